"""
Sessions through HAProxy's runtime API: close them (``shutdown sessions server``), or wait
for them to end. Part of the ``haproxy_runtime`` execution module (the same virtual name),
kept in a file of its own; every command goes through ``haproxy_runtime.batch`` and
``haproxy_runtime.server_status``, and names are checked before anything is sent.

A session here is one client connection's stream that HAProxy has given to a server: a
request in flight, a WebSocket or any upgraded tunnel, a long poll. Closing it cuts the
client's connection; a keep-alive connection that is between two requests belongs to no
server and is not cut (its next request is routed anew).
"""

import time

from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import names, runtime

__virtualname__ = "haproxy_runtime"

DEFAULT_DRAIN_POLL_INTERVAL = 0.25


def __virtual__():
    return __virtualname__


def shutdown_servers_sessions(servers, socket=None, timeout=None):
    """
    Close every session of several servers, in any backends, over one connection: ``show
    stat`` (how many each has), then ``shutdown sessions server <backend>/<server>`` for
    each. Returns ``{"backend/server": sessions}``: what each server had when it was closed.

    Every name is checked before anything is sent; if HAProxy refuses a command (an unknown
    server), this raises ``RuntimeRefused`` naming each refused ``backend/server`` and saying
    how many others were applied.

    servers
        ``{backend: [server names]}``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.shutdown_servers_sessions '{"app": ["app1", "app2"]}'
    """
    if not isinstance(servers, dict):
        raise SaltInvocationError("servers must be a mapping of backend names to server lists")
    labels = [
        f"{names.check_name(backend, 'backend')}/{server}"
        for backend, listed in servers.items()
        for server in names.check_server_names(listed)
    ]
    if not labels:
        return {}
    commands = ["show stat"] + [f"shutdown sessions server {label}" for label in labels]
    answers = __salt__["haproxy_runtime.batch"](commands, socket=socket, timeout=timeout)
    runtime.check_answer("show stat", answers[0])
    runtime.check_silent(labels, answers[1:])
    current = {
        f"{row['pxname']}/{row['svname']}": row.get("scur") or 0
        for row in runtime.parse_stat(answers[0])
        if row["type_name"] == "server"
    }
    return {label: current.get(label, 0) for label in labels}


def shutdown_sessions(backend, server, socket=None, timeout=None):
    """
    Close every session of a server: ``shutdown sessions server <backend>/<server>``.

    backend
        Backend name.

    server
        Server name.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.shutdown_sessions app app1
    """
    shutdown_servers_sessions({backend: [server]}, socket=socket, timeout=timeout)
    return True


def wait_drained(backend, servers=None, drain_timeout=60, interval=None, socket=None, timeout=None):
    """
    Wait until the servers' current sessions reach 0, or ``drain_timeout`` seconds pass.

    Returns ``{"drained": bool, "waited": seconds, "sessions": {"backend/server": count}}``;
    it does not raise when time runs out, so the caller decides what follows.

    backend
        Backend name, or a list of backend names.

    servers
        Server names (only with one backend); default every non-backup server.

    drain_timeout
        Seconds to wait at most.

    interval
        Seconds between two looks; default 0.25.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds per runtime call; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.wait_drained app drain_timeout=30
    """
    backends = [backend] if isinstance(backend, str) else list(backend or [])
    if not backends:
        raise SaltInvocationError("backend must be a backend name or a list of them")
    for name in backends:
        names.check_name(name, "backend")
    wanted = None if servers is None else set(names.check_server_names(servers))
    if wanted is not None and len(backends) != 1:
        raise SaltInvocationError("servers can only be given with one backend")
    try:
        drain_timeout = float(drain_timeout)
        interval = float(interval or DEFAULT_DRAIN_POLL_INTERVAL)
    except (TypeError, ValueError) as err:
        raise SaltInvocationError("drain_timeout and interval must be numbers") from err
    start = time.monotonic()
    deadline = start + max(drain_timeout, 0)
    while True:
        current = __salt__["haproxy_runtime.server_status"](socket=socket, timeout=timeout)
        sessions = {}
        for name in backends:
            if name not in current:
                raise runtime.RuntimeRefused(f"No such backend: {name}")
            for server, info in current[name].items():
                if info["backup"] or (wanted is not None and server not in wanted):
                    continue
                sessions[f"{name}/{server}"] = info["sessions"]
        busy = {key: count for key, count in sessions.items() if count}
        now = time.monotonic()
        if not busy or now >= deadline:
            return {"drained": not busy, "waited": round(now - start, 3), "sessions": busy}
        time.sleep(min(interval, max(deadline - now, 0)))
