"""
Keep an LB's recorded maintenance in force through highstates, reloads and restarts.

.. code-block:: yaml

    maintenance re-applied:
      haproxy_maint.converged: []

With maintenance on (the LB's record says so), every READY app server of the recorded
backends goes back to MAINT; with maintenance off, nothing is touched, so a highstate never
turns maintenance on or off by itself.
"""

from salt.exceptions import SaltException

__virtualname__ = "haproxy_maint"


def __virtual__():
    if "haproxy_maint.reapply" in __salt__:
        return __virtualname__
    return (False, "the haproxy_maint state needs the haproxy_maint execution module")


def converged(name="haproxy maintenance"):
    """
    Re-apply the LB's recorded maintenance, if any.

    name
        An ID for the state; it does not change what is done.

    CLI Example:

    .. code-block:: bash

        salt lb1 state.single haproxy_maint.converged name=maintenance test=True
    """
    ret = {"name": name, "result": False, "comment": "", "changes": {}}
    try:
        if __opts__["test"]:
            active = __salt__["haproxy_maint.read_record"]().get("active")
            pending = __salt__["haproxy_maint.would_change"]() if active else {}
        else:
            outcome = __salt__["haproxy_maint.reapply"]()
            active, pending = outcome.get("active"), outcome.get("changed")
    except SaltException as err:
        ret["comment"] = str(err)
        return ret
    ret["result"] = True
    if pending:
        ret["changes"] = {"maint": pending}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = "Would have put servers back into the recorded maintenance"
        else:
            ret["comment"] = "Put servers back into the recorded maintenance"
    elif active:
        ret["comment"] = "Maintenance is on, as recorded; nothing to re-apply"
    else:
        ret["comment"] = "Maintenance is off; nothing touched"
    return ret
