"""
Declare the admin state of HAProxy servers through the runtime API.

.. code-block:: yaml

    app servers in maintenance:
      haproxy_server.maint:
        - name: app
        - servers: [app1, app2]

    every app server back:
      haproxy_server.ready:
        - name: app

The change is made with ``haproxy_runtime`` (no reload); a state reads the servers back
afterwards and fails if HAProxy does not show what was asked. The state declared is the
forced one (``set server ... state``: the FMAINT and FDRAIN bits): a server that HAProxy
keeps out of service by itself (no address because its host name does not resolve,
disabled in the config) is ``ready`` here until it is put in MAINT or DRAIN.
"""

from salt.exceptions import SaltException

from saltext_haproxy_maint import names

__virtualname__ = "haproxy_server"


def __virtual__():
    if "haproxy_runtime.server_status" in __salt__:
        return __virtualname__
    return (False, "haproxy_server needs the haproxy_runtime execution module")


def _admin_states(backend, servers, socket):
    current = __salt__["haproxy_runtime.server_status"](backend=backend, socket=socket)[backend]
    if servers is None:
        return {name: info["forced"] for name, info in current.items() if not info["backup"]}
    wanted = [names.check_name(name, "server") for name in servers]
    missing = [name for name in wanted if name not in current]
    if missing:
        raise SaltException(f"No such server in backend {backend}: {', '.join(missing)}")
    return {name: current[name]["forced"] for name in wanted}


def _server_state(name, state, servers, socket):
    ret = {"name": name, "result": False, "comment": "", "changes": {}}
    if isinstance(servers, str):
        ret["comment"] = "servers must be a list of server names, not a string"
        return ret
    try:
        before = _admin_states(name, servers, socket)
        to_change = sorted(server for server, admin in before.items() if admin != state)
        if not to_change:
            ret["result"] = True
            ret["comment"] = f"Servers of {name} are already {state}: {', '.join(sorted(before))}"
            return ret
        changes = {server: {"old": before[server], "new": state} for server in to_change}
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = changes
            ret["comment"] = f"Would have set {len(to_change)} servers of {name} to {state}"
            return ret
        __salt__["haproxy_runtime.set_states"](
            [{"backend": name, "server": server, "state": state} for server in to_change],
            socket=socket,
        )
        after = _admin_states(name, to_change, socket)
    except SaltException as err:
        ret["comment"] = str(err)
        return ret
    wrong = sorted(server for server, admin in after.items() if admin != state)
    ret["changes"] = {
        server: {"old": before[server], "new": after[server]}
        for server in to_change
        if after[server] != before[server]
    }
    if wrong:
        ret["comment"] = (
            f"HAProxy shows servers of {name} not {state} after the change: {', '.join(wrong)}"
        )
        return ret
    ret["result"] = True
    ret["comment"] = f"Set {len(to_change)} servers of {name} to {state}: {', '.join(to_change)}"
    return ret


def ready(name, servers=None, socket=None):
    """
    Ensure servers of a backend are READY (in service, admin state cleared).

    name
        The backend.

    servers
        Server names; default every non-backup server of the backend.

    socket
        Runtime socket (unix path or ``host:port``); default from config.

    CLI Example:

    .. code-block:: bash

        salt-call state.single haproxy_server.ready name=app test=True
    """
    return _server_state(name, "ready", servers, socket)


def drain(name, servers=None, socket=None):
    """
    Ensure servers of a backend are in DRAIN (no new sessions, current ones go on).

    name
        The backend.

    servers
        Server names; default every non-backup server of the backend.

    socket
        Runtime socket (unix path or ``host:port``); default from config.

    CLI Example:

    .. code-block:: bash

        salt-call state.single haproxy_server.drain name=app servers='["app1"]' test=True
    """
    return _server_state(name, "drain", servers, socket)


def maint(name, servers=None, socket=None):
    """
    Ensure servers of a backend are in MAINT (out of service; the backup server takes over).

    name
        The backend.

    servers
        Server names; default every non-backup server of the backend.

    socket
        Runtime socket (unix path or ``host:port``); default from config.

    CLI Example:

    .. code-block:: bash

        salt-call state.single haproxy_server.maint name=app servers='["app1", "app2"]' test=True
    """
    return _server_state(name, "maint", servers, socket)
