"""
Which backends an LB maintains, and whether a request's ``backends`` are among them.

With ``haproxy:manage_config: true`` (the default) the pillar says it: the backends it
declares with ``sorry: true`` (:py:func:`saltext_haproxy_maint.lbconfig.maintained_backends`).
With ``manage_config: false`` another tool renders haproxy.cfg, and the running HAProxy says
it: a backend is maintained when the runtime API shows a ``backup`` server at the sorry
server's address (``sorry_server:host``:``port``) in it; ``haproxy:maintain`` may narrow that
list. A backend without such a server is never put into maintenance: its app servers would be
left without a page.
"""

import socket

from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import lbconfig, request


def sorry_address(cfg):
    """
    The sorry server's ``host:port``, as HAProxy's ``show stat`` shows a server's address.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.
    """
    return f"{cfg['sorry_server']['host']}:{cfg['sorry_server']['port']}"


def sorry_line(cfg):
    """
    The ``server`` line that makes a backend maintainable: the sorry server as ``backup``.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.
    """
    sorry = cfg["sorry_server"]
    return f"server {sorry['name']} {sorry_address(cfg)} maxconn {sorry['maxconn']} backup"


def sorry_addresses(cfg):
    """
    Every ``host:port`` at which ``show stat`` may show the sorry server: the pillar's
    ``sorry_server:host`` as written and, for a host name (``localhost``), each IPv4 address
    it resolves to (HAProxy shows the address it resolved at start).

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.
    """
    host, port = cfg["sorry_server"]["host"], cfg["sorry_server"]["port"]
    addresses = {f"{host}:{port}"}
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return addresses
    return addresses | {f"{info[4][0]}:{port}" for info in infos}


def sorry_backup(cfg, servers):
    """
    The name of the ``backup`` server at the sorry server's address among ``servers``, or
    None.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.

    servers
        One backend of ``haproxy_runtime.server_status``: ``{server: {"backup": bool,
        "address": "host:port", ...}}``.
    """
    addresses = sorry_addresses(cfg)
    for name, info in sorted(servers.items()):
        if info.get("backup") and info.get("address") in addresses:
            return name
    return None


def running_backends(cfg, live):
    """
    The backends of the running HAProxy that requests may name: all but the bypass backends
    (``<backend><visitor:bypass:backend_suffix>``, which are never put into maintenance),
    sorted.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.

    live
        ``haproxy_runtime.server_status``: ``{backend: {server: {...}}}``.
    """
    suffix = cfg["visitor"]["bypass"]["backend_suffix"]
    return sorted(name for name in live if not name.endswith(suffix))


def discovered(cfg, live):
    """
    The running HAProxy's backends that have the sorry server as ``backup``, narrowed to
    ``haproxy:maintain`` when that lists any, sorted.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.

    live
        ``haproxy_runtime.server_status``.
    """
    narrowed = set(cfg["haproxy"]["maintain"])
    return [
        name
        for name in running_backends(cfg, live)
        if sorry_backup(cfg, live[name]) and (not narrowed or name in narrowed)
    ]


def maintained_backends(cfg, *, server_status):
    """
    The backends that maintenance acts on by default, sorted: from the pillar, or with
    ``manage_config: false`` from the running HAProxy (:py:func:`discovered`).

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.

    server_status
        A function returning ``haproxy_runtime.server_status``; called only with
        ``manage_config: false``.
    """
    if cfg["haproxy"]["manage_config"]:
        return lbconfig.maintained_backends(cfg)
    return discovered(cfg, server_status())


def requested_backends(cfg, backends, *, server_status):
    """
    The backends a request names, checked (None: every maintained backend). Raises
    ``SaltInvocationError`` when a name breaks the name rule, names a backend this LB does
    not have (the message lists those it has) or one without the sorry server as ``backup``
    (the message gives the line to add), or when no backend has the sorry server at all.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.

    backends
        The request's ``backends``: None or a list of names.

    server_status
        A function returning ``haproxy_runtime.server_status``; called only with
        ``manage_config: false``.
    """
    if cfg["haproxy"]["manage_config"]:
        return lbconfig.requested_backends(cfg, backends)
    wanted = request.check_backends(backends, (cfg["sorry_server"]["name"],))
    live = server_status()
    maintained = discovered(cfg, live)
    running = running_backends(cfg, live)
    without = f"a backup server at {sorry_address(cfg)}: maintenance would leave the app servers"
    without += f" without a page; add `{sorry_line(cfg)}` to each backend to maintain"
    if wanted is None:
        if not maintained:
            raise SaltInvocationError(f"no backend of the running HAProxy has {without}")
        return maintained
    for name in wanted:
        if name not in running:
            raise SaltInvocationError(
                f"unknown backend {name!r}: the running HAProxy has "
                f"{', '.join(running) or 'none'} (maintained: {', '.join(maintained) or 'none'})"
            )
        if name not in maintained:
            if sorry_backup(cfg, live[name]):
                raise SaltInvocationError(
                    f"backend {name!r} is not in the pillar's haproxy:maintain "
                    f"({', '.join(maintained)})"
                )
            raise SaltInvocationError(f"backend {name!r} lacks {without}")
    return wanted
