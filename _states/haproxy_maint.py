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
    """
    ret = {"name": name, "result": False, "comment": "", "changes": {}}
    try:
        if __opts__["test"]:
            pending = __salt__["haproxy_maint.would_change"]()
            ret["result"] = None if pending else True
            ret["changes"] = {"maint": pending} if pending else {}
            ret["comment"] = (
                f"Would have put back into maintenance: {pending}"
                if pending
                else "Maintenance is as recorded"
            )
            return ret
        outcome = __salt__["haproxy_maint.reapply"]()
    except SaltException as err:
        ret["comment"] = str(err)
        return ret
    ret["result"] = True
    if outcome.get("changed"):
        ret["changes"] = {"maint": outcome["changed"]}
        ret["comment"] = "Put servers back into the recorded maintenance"
    elif outcome.get("active"):
        ret["comment"] = "Maintenance is on, as recorded; nothing to re-apply"
    else:
        ret["comment"] = "Maintenance is off; nothing touched"
    return ret
