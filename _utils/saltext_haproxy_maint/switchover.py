"""
The switch of an LB's app servers into maintenance, in the order that leaves no app traffic:
in drain mode DRAIN first and a bounded wait for their sessions to end; then MAINT; then,
after an optional grace, every session still open on the servers it moved is closed
(WebSockets, upgraded tunnels, long polls and requests in flight), because MAINT alone only
stops new sessions. The bypass backend's servers are other servers of HAProxy's: their
sessions stay.

Everything goes through ``haproxy_runtime`` functions that the caller hands over, already
bound to the LB's socket.
"""

import time

from saltext_haproxy_maint import record as lb_record


def apply_start(runtime_call, *, changed, mode, drain_timeout, close_after):
    """
    Move ``changed`` into MAINT (through DRAIN in drain mode) and close their sessions.
    Returns ``(drain, closed)``: the wait's outcome in drain mode (``{"drained": bool,
    "waited": seconds, "sessions": {"backend/server": count}}``, else None) and
    ``{"backend/server": sessions closed}``.

    runtime_call
        ``runtime_call(function, **kwargs)`` runs ``haproxy_runtime.<function>`` on the LB
        (``set_states``, ``wait_drained``, ``shutdown_servers_sessions``); it raises
        ``CommandExecutionError`` as they do.

    changed
        ``{backend: [servers]}`` to move; nothing happens when empty.

    mode
        ``maint`` or ``drain``.

    drain_timeout
        Seconds that drain mode waits for sessions to end; what is left is closed.

    close_after
        Seconds between MAINT and closing the sessions in ``maint`` mode (a grace for
        requests in flight); 0 closes at once. Drain mode closes at once: its wait was the
        grace.
    """
    if not changed:
        return None, {}
    drain = None
    if mode == "drain":
        runtime_call("set_states", changes=lb_record.changes(changed, "drain"))
        drain = runtime_call("wait_drained", backend=list(changed), drain_timeout=drain_timeout)
    runtime_call("set_states", changes=lb_record.changes(changed, "maint"))
    if mode != "drain" and close_after > 0:
        time.sleep(close_after)
    closed = runtime_call("shutdown_servers_sessions", servers=changed)
    return drain, closed
