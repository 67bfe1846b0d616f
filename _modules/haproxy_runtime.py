"""
Client for HAProxy's runtime API (the ``stats socket``), for operators and for
``haproxy_maint``.

This module is the only code of the project that opens a runtime socket. The wire protocol
and the parsers live in :py:mod:`saltext_haproxy_maint.runtime`, the name rule in
:py:mod:`saltext_haproxy_maint.names`; here are the commands an operator runs: queries (``show info``, ``show stat``, ``show servers state``,
joined as :py:func:`server_status`), changes (server states in one batch, weights) and
:py:func:`save_servers_state`.

The socket is a unix socket path (``/run/haproxy/admin.sock``) or a TCP ``host:port``
(``127.0.0.1:9999``). When a function is given no ``socket``, it uses the
``haproxy_maint:haproxy:runtime:socket`` value of the minion config or pillar.

Errors are ``CommandExecutionError`` subclasses from :py:mod:`saltext_haproxy_maint.runtime`:
``RuntimeUnreachable``, ``RuntimeAccessDenied``, ``RuntimeRefused``, ``RuntimeProtocolError``.
The maps and ACLs that haproxy.cfg loads from files are in ``haproxy_runtime_maps.py``, the
sessions (``shutdown_sessions``, ``wait_drained``) in ``haproxy_runtime_sessions.py`` (the
same ``haproxy_runtime`` functions: ``list_maps``, ``replace_map``, ``shutdown_sessions`` ...).
Bad arguments (a name with ``;`` or a newline, an unknown state) raise
``SaltInvocationError`` before anything is sent.
"""

import logging
import os

from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import files, names, runtime, server_state

log = logging.getLogger(__name__)

__virtualname__ = "haproxy_runtime"

DEFAULT_SOCKET = "/run/haproxy/admin.sock"
DEFAULT_TIMEOUT = 5.0
DEFAULT_SERVER_STATE_FILE = "/var/lib/haproxy/server-state"
SOCKET_CONFIG_KEY = "haproxy_maint:haproxy:runtime:socket"
TIMEOUT_CONFIG_KEY = "haproxy_maint:haproxy:runtime:timeout"
STATE_FILE_CONFIG_KEY = "haproxy_maint:haproxy:server_state_file"
CONFIG_FILE_CONFIG_KEY = "haproxy_maint:haproxy:config_file"


def __virtual__():
    return __virtualname__


def _name(name, kind):
    return names.check_name(name, kind)


def _config_value(key, default):
    cache_key = f"haproxy_runtime.config.{key}"
    if cache_key not in __context__:
        __context__[cache_key] = __salt__["config.get"](key, default)
    return __context__[cache_key]


def _resolve_socket(socket):
    return socket or _config_value(SOCKET_CONFIG_KEY, DEFAULT_SOCKET)


def _resolve_timeout(timeout):
    value = timeout if timeout is not None else _config_value(TIMEOUT_CONFIG_KEY, DEFAULT_TIMEOUT)
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise SaltInvocationError(f"timeout must be a number of seconds, not {value!r}") from err
    if value <= 0:
        raise SaltInvocationError(f"timeout must be positive, not {value!r}")
    return value


def _batch(commands, socket, timeout):
    """Send commands already checked or built from checked names; answers in order."""
    return runtime.exchange(_resolve_socket(socket), commands, _resolve_timeout(timeout))


def batch(commands, socket=None, timeout=None):
    """
    Run several runtime commands over one connection and return their answers, in order.

    Nothing is interpreted: an error answer is returned as text. Commands holding ``;`` or a
    newline are refused.

    commands
        A list of runtime commands, e.g. ``["show info", "show servers state"]``.

    socket
        Unix socket path or ``host:port``; default from config ``haproxy_maint:haproxy:runtime:socket``.

    timeout
        Seconds to wait to connect and for each read; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.batch '["show info", "show servers state"]'
    """
    if isinstance(commands, str):
        commands = [commands]
    if not isinstance(commands, (list, tuple)) or not commands:
        raise SaltInvocationError("commands must be a non-empty list of runtime commands")
    return _batch([runtime.check_command(command) for command in commands], socket, timeout)


def _run_checked(commands, socket, timeout, labels):
    """Run commands that answer nothing on success; raise naming each one that failed."""
    return runtime.check_silent(labels, _batch(commands, socket, timeout))


def _run_query(command, socket, timeout):
    return runtime.check_answer(command, _batch([command], socket, timeout)[0])


# --- queries ----------------------------------------------------------------------------


def show_info(socket=None, timeout=None):
    """
    Return ``show info`` as a dict (``Version``, ``Pid``, ``Uptime_sec``, ``CurrConns`` ...).

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.show_info
    """
    return runtime.parse_info(_run_query("show info", socket, timeout))


def show_stat(backend=None, server=None, socket=None, timeout=None):
    """
    Return ``show stat`` rows as dicts, optionally only one backend's or one server's.

    backend
        Keep the rows of this proxy only; raises if it does not exist.

    server
        Keep the rows of this server only (``svname``).

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.show_stat backend=app
    """
    if backend is not None:
        _name(backend, "backend")
    if server is not None:
        _name(server, "server")
    rows = runtime.parse_stat(_run_query("show stat", socket, timeout))
    return _filter_rows(rows, backend, server, "pxname", "svname")


def show_servers_state(backend=None, socket=None, timeout=None):
    """
    Return ``show servers state`` as a list of dicts (the file's columns, plus ``backend``, ``admin``, ``admin_flags`` and ``op``).

    backend
        Only this backend's servers; raises if it does not exist.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.show_servers_state app
    """
    command = "show servers state"
    if backend is not None:
        command += f" {_name(backend, 'backend')}"
    answer = _run_query(command, socket, timeout)
    if answer.startswith("Can't find backend"):
        raise runtime.RuntimeRefused(f"HAProxy refused {command!r}: {answer.strip()}")
    return runtime.parse_servers_state(answer)


def _filter_rows(rows, backend, server, backend_key, server_key):
    if backend is not None:
        rows = [row for row in rows if row.get(backend_key) == backend]
        if not rows:
            raise runtime.RuntimeRefused(f"No such backend: {backend}")
    if server is not None:
        rows = [row for row in rows if row.get(server_key) == server]
        if not rows:
            raise runtime.RuntimeRefused(f"No such server: {backend or '*'}/{server}")
    return rows


def server_status(backend=None, socket=None, timeout=None):
    """
    Return every server of every backend (or of one), with what callers decide on.

    One connection runs ``show stat`` and ``show servers state``; the result is
    ``{backend: {server: {...}}}`` where each server has ``admin`` (ready/drain/maint),
    ``admin_flags`` (the set bits of ``srv_admin_state`` by the management guide's names:
    ``FMAINT``, ``IMAINT``, ``CMAINT``, ``FDRAIN``, ``IDRAIN``, ``RMAINT`` (no address: its
    host name did not resolve), ``HMAINT``), ``status`` (``show stat`` status, e.g. ``UP``,
    ``DOWN``, ``MAINT``, ``MAINT (resolution)``), ``backup`` (bool), ``sessions`` (current),
    ``address`` (``host:port``, "" with none), ``fqdn`` (the configured host name, "" for an
    address) and ``weight``.

    backend
        Only this backend; raises if it does not exist.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.server_status
        salt lb1 haproxy_runtime.server_status backend=app
    """
    if backend is not None:
        _name(backend, "backend")
    stat_answer, state_answer = _batch(["show stat", "show servers state"], socket, timeout)
    runtime.check_answer("show stat", stat_answer)
    runtime.check_answer("show servers state", state_answer)
    result = runtime.server_table(stat_answer, state_answer)
    if backend is not None:
        if backend not in result:
            raise runtime.RuntimeRefused(f"No such backend: {backend}")
        return {backend: result[backend]}
    return result


def list_backends(socket=None, timeout=None):
    """
    Return ``{backend: {"servers": [names], "backup": [names]}}`` from ``show stat``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.list_backends
    """
    backends = {}
    for row in show_stat(socket=socket, timeout=timeout):
        if row["type_name"] == "backend":
            backends.setdefault(row["pxname"], {"servers": [], "backup": []})
        elif row["type_name"] == "server":
            entry = backends.setdefault(row["pxname"], {"servers": [], "backup": []})
            entry["backup" if row["backup"] else "servers"].append(row["svname"])
    return backends


# --- changes ----------------------------------------------------------------------------


def set_states(changes, socket=None, timeout=None):
    """
    Set the admin state of many servers, in any backends, over one connection.

    Every name is checked before anything is sent. If HAProxy refuses any command, this
    raises :py:exc:`CommandExecutionError` naming each refused ``backend/server`` and saying
    how many others were applied.

    changes
        A list of ``{"backend": ..., "server": ..., "state": "ready|drain|maint"}``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.set_states '[{"backend": "app", "server": "app1", "state": "maint"}]'
    """
    commands, labels = runtime.set_state_commands(changes)
    if not commands:
        return []
    _run_checked(commands, socket, timeout, labels)
    return list(changes)


def set_server_state(backend, server, state, socket=None, timeout=None):
    """
    Set one server's admin state: ``set server <backend>/<server> state <state>``.

    backend
        Backend name.

    server
        Server name.

    state
        ``ready``, ``drain`` or ``maint``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.set_server_state app app1 maint
    """
    set_states([{"backend": backend, "server": server, "state": state}], socket, timeout)
    return True


def set_servers_state(
    backend, state, servers=None, include_backup=False, socket=None, timeout=None
):
    """
    Set the admin state of several servers of one backend, or of all of them.

    backend
        Backend name.

    state
        ``ready``, ``drain`` or ``maint``.

    servers
        Server names; default every server of the backend.

    include_backup
        With no ``servers``, also include the backend's ``backup`` servers (default False:
        the sorry server is left alone).

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.set_servers_state app maint
        salt lb1 haproxy_runtime.set_servers_state app ready servers='[app1, app2]'
    """
    _name(backend, "backend")
    names.check_state(state)
    known = servers_of(backend, include_backup=True, socket=socket, timeout=timeout)
    if servers is None:
        chosen = [name for name, backup in known.items() if include_backup or not backup]
    else:
        chosen = names.check_server_names(servers)
        unknown = [name for name in chosen if name not in known]
        if unknown:
            raise runtime.RuntimeRefused(
                f"No such server in backend {backend}: {', '.join(unknown)}"
            )
    changes = [{"backend": backend, "server": name, "state": state} for name in chosen]
    set_states(changes, socket=socket, timeout=timeout)
    return chosen


def servers_of(backend, include_backup=False, socket=None, timeout=None):
    """
    Return ``{server: is_backup}`` for one backend.

    backend
        Backend name; raises if it does not exist.

    include_backup
        Include ``backup`` servers (default False).

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.servers_of app
    """
    rows = show_stat(backend=backend, socket=socket, timeout=timeout)
    return {
        row["svname"]: row["backup"]
        for row in rows
        if row["type_name"] == "server" and (include_backup or not row["backup"])
    }


def set_weight(backend, server, weight, socket=None, timeout=None):
    """
    Set a server's weight: ``set weight <backend>/<server> <weight>``.

    backend
        Backend name.

    server
        Server name.

    weight
        0 to 256, or a percentage of the configured weight such as ``"50%"``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.set_weight app app1 50
    """
    _name(backend, "backend")
    _name(server, "server")
    text = str(weight)
    number = text[:-1] if text.endswith("%") else text
    if isinstance(weight, bool) or not number.isdigit() or int(number) > 256:
        raise SaltInvocationError(f"invalid weight {weight!r}: use 0 to 256, or a percentage")
    _run_checked(
        [f"set weight {backend}/{server} {text}"], socket, timeout, [f"{backend}/{server}"]
    )
    return True


def save_servers_state(path=None, socket=None, timeout=None, config_file=None):
    """
    Write ``show servers state`` to HAProxy's ``server-state-file``, atomically, made to
    fit ``config_file``: the HAProxy config that the next start or reload loads.

    HAProxy never writes this file itself; it reads it at start when
    ``load-server-state-from-file`` is set, which is how admin states (MAINT, DRAIN) survive
    a reload or restart. It would also put back a server's old port (and, with ``init-addr
    last``, its old address), so the lines are rewritten against ``config_file`` first
    (:py:func:`saltext_haproxy_maint.server_state.reconcile`): a server the config no longer
    declares is dropped; one whose address, port or host name changed gets the config's, with
    fresh health and its admin state kept. The file is written to a temporary name beside the
    target and renamed over it, so a reader sees the old file or the new one, never half of
    one.

    Returns ``{"path": str, "servers": count written, "readdressed": ["backend/server"],
    "dropped": ["backend/server"]}``. Raises ``CommandExecutionError`` when ``config_file``
    cannot be read (nothing is written then).

    path
        Where to write; default from config ``haproxy_maint:haproxy:server_state_file``,
        else ``/var/lib/haproxy/server-state``.

    config_file
        The config to fit; default from config ``haproxy_maint:haproxy:config_file``; with
        neither, the dump is written as it is.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.save_servers_state
    """
    path = path or _config_value(STATE_FILE_CONFIG_KEY, DEFAULT_SERVER_STATE_FILE)
    config_file = config_file or _config_value(CONFIG_FILE_CONFIG_KEY, None)
    for name, value in (("server state file", path), ("config file", config_file)):
        if value is not None and (not isinstance(value, str) or not os.path.isabs(value)):
            raise SaltInvocationError(f"{name} must be an absolute path, not {value!r}")
    answer = _run_query("show servers state", socket, timeout)
    runtime.parse_servers_state(answer)  # refuses an answer in an unknown format
    # The file's first line is the format version and a newline, as HAProxy expects.
    text, changes = answer if answer.endswith("\n") else answer + "\n", {}
    if config_file:
        text, changes = server_state.reconcile(text, server_state.read_config_servers(config_file))
    files.write_text(path, text, mode=0o640)
    return {"path": path, "servers": len(runtime.parse_servers_state(text)), **changes}
