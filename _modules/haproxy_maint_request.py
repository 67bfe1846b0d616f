"""
The operator's signed trigger: ``haproxy_maint.request`` asks the master to start, stop or
cancel maintenance, signed with this minion's own Salt key, and waits for the answer. Part of
the ``haproxy_maint`` execution module (the same virtual name), in a file of its own: it runs
on the operators' minions, not on the LBs.
"""

from saltext_haproxy_maint import client

__virtualname__ = "haproxy_maint"

REQUEST_WAIT = 60


def __virtual__():
    return __virtualname__


def request(action, env=None, wait=REQUEST_WAIT, **fields):
    """
    Ask the master to start, stop or cancel maintenance, signed with this minion's own Salt
    key, and wait for the outcome. Run it on an operator's minion that the environment's
    ``allow`` list names. It travels as ``maint/start`` (``maint/stop``, ``maint/cancel``)
    through the master's reactor like a plain event, but the master can prove who sent it.
    The exit code is 0 when every LB did it, 1 when some LB did not, 2 when the master
    refused the request, 3 when no answer came within ``wait``.

    action
        ``start``, ``stop`` or ``cancel``.

    env
        Environment.

    wait
        Seconds to wait for the master's answer (default 60).

    fields
        The request's other fields: ``backends``, ``mode``, ``drain_timeout``, ``reason``,
        ``eta``, ``eta_at``, ``bypass``, ``paths``, ``at``, ``duration``, ``test`` (see the event
        reference).

    CLI Example:

    .. code-block:: bash

        salt-call haproxy_maint.request start env=prod reason="Database upgrade" eta='"22:00 UTC"'
        salt-call haproxy_maint.request stop env=prod
    """
    answer, retcode = client.send_signed(
        __opts__,
        lambda tag, data: __salt__["event.send"](tag, data=data),
        action,
        env,
        wait=wait,
        fields=fields,
    )
    __context__["retcode"] = retcode
    if answer is None:
        return {"result": False, "state": "no answer", "why": f"no answer within {wait} s"}
    return answer
