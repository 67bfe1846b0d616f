"""
Listening on a minion's own event bus, for the operator's ``haproxy_maint.request``: the
master sends its answer to the asking minion as an event there.
"""

import contextlib
import time

import salt.utils.event


@contextlib.contextmanager
def minion_listener(opts):
    """
    A listener on the local minion's event bus, connected before the ``with`` block starts
    (so an answer that comes quickly is not missed).

    opts
        The minion's opts.
    """
    event = salt.utils.event.get_event("minion", opts=opts, sock_dir=opts["sock_dir"], listen=True)
    try:
        yield event
    finally:
        event.destroy()


def wait_for(listener, tag, timeout):
    """
    Return the data of the first event whose tag is exactly ``tag``, or None after
    ``timeout`` seconds.

    listener
        From :py:func:`minion_listener`.

    tag
        The tag.

    timeout
        Seconds.
    """
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        event = listener.get_event(wait=min(left, 1.0), tag=tag, full=True)
        if event and event.get("tag") == tag:
            return event.get("data")
    return None
