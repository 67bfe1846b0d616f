"""
Client for HAProxy's runtime API (the ``stats socket``).

This module is the only code of the project that opens a runtime socket. It sends commands,
many per connection when asked, maps every answer back to its command, turns HAProxy's error
answers into :py:exc:`CommandExecutionError`, and parses ``show info``, ``show stat`` and
``show servers state`` into typed dicts, so that callers never split strings.

The socket is a unix socket path (``/run/haproxy/admin.sock``) or a TCP ``host:port``
(``127.0.0.1:9999``). When a function is given no ``socket``, it uses the
``haproxy_maint:haproxy:runtime:socket`` value of the minion config or pillar.

Names are checked before anything is sent: HAProxy treats ``;`` and newlines as command
separators, so a backend or server name may only hold letters, digits, ``-``, ``_``, ``.``
and ``:``.
"""

import csv
import logging
import os
import re
import selectors
import socket as socketlib
import tempfile
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "haproxy_runtime"

DEFAULT_SOCKET = "/run/haproxy/admin.sock"
DEFAULT_TIMEOUT = 5.0
DEFAULT_SERVER_STATE_FILE = "/var/lib/haproxy/server-state"
DEFAULT_DRAIN_POLL_INTERVAL = 0.25
SOCKET_CONFIG_KEY = "haproxy_maint:haproxy:runtime:socket"
TIMEOUT_CONFIG_KEY = "haproxy_maint:haproxy:runtime:timeout"
STATE_FILE_CONFIG_KEY = "haproxy_maint:haproxy:server_state_file"

NAME_MAX_LENGTH = 100
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")
SERVER_STATES = ("ready", "drain", "maint")
# In interactive ("prompt") mode HAProxy ends every answer with a newline and a "> " prompt,
# which is what lets one connection carry many commands and still tell the answers apart.
PROMPT = "\n> "
READ_CHUNK = 65536
# srv_admin_state bits of `show servers state` (HAProxy's SRV_ADMF_* flags).
ADMIN_FLAGS = {
    0x01: "FMAINT",
    0x02: "IMAINT",
    0x04: "CMAINT",
    0x08: "FDRAIN",
    0x10: "IDRAIN",
    0x20: "RMAINT",
    0x40: "HMAINT",
}
MAINT_FLAGS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
DRAIN_FLAGS = 0x08 | 0x10
OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}
# `show stat` type column.
STAT_TYPES = {0: "frontend", 1: "backend", 2: "server", 3: "listener"}
# Error answers that HAProxy gives to commands that otherwise answer nothing or data.
ERROR_PREFIXES = (
    "No such",
    "Unknown command",
    "Permission denied",
    "Require ",
    "Invalid ",
    "Missing ",
    "Can't ",
    "Cannot ",
    "Unexpected ",
    "unknown ",
)


def __virtual__():
    return __virtualname__


# --- validation -------------------------------------------------------------------------


def validate_name(name, kind="name"):
    """
    Return ``name`` if it is a valid HAProxy proxy or server name, else raise
    :py:exc:`SaltInvocationError`.

    name
        The backend or server name to check.

    kind
        What the name is, for the error message (``backend``, ``server``).

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.validate_name app backend
    """
    if not isinstance(name, str):
        raise SaltInvocationError(f"{kind} name must be a string, not {type(name).__name__}")
    if not name or len(name) > NAME_MAX_LENGTH or not NAME_PATTERN.fullmatch(name):
        raise SaltInvocationError(
            f"invalid {kind} name {name!r}: use 1 to {NAME_MAX_LENGTH} letters, digits, "
            "'-', '_', '.' or ':'"
        )
    return name


def _validate_state(state):
    if state not in SERVER_STATES:
        raise SaltInvocationError(
            f"invalid server state {state!r}: use one of {', '.join(SERVER_STATES)}"
        )
    return state


def _validate_command(command):
    if not isinstance(command, str) or not command.strip():
        raise SaltInvocationError(f"invalid runtime command {command!r}")
    if any(char in command for char in ";\r\n"):
        raise SaltInvocationError(
            f"runtime command {command!r} holds ';' or a newline, which HAProxy would run "
            "as several commands; send them as separate items"
        )
    return command


def _server_list(servers):
    if isinstance(servers, str):
        servers = [item for item in servers.split(",") if item]
    if not isinstance(servers, (list, tuple)):
        raise SaltInvocationError("servers must be a list of server names")
    return [validate_name(server, "server") for server in servers]


# --- transport --------------------------------------------------------------------------


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


def parse_socket(socket):
    """
    Split a runtime socket address into ``(family, address)``.

    socket
        A unix socket path (absolute) or ``host:port``; ``unix@`` and ``ipv4@``/``ipv6@``
        prefixes, as in haproxy.cfg, are accepted.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.parse_socket 127.0.0.1:9999
    """
    if not isinstance(socket, str) or not socket or any(c in socket for c in "\r\n\0"):
        raise SaltInvocationError(f"invalid runtime socket {socket!r}")
    for prefix in ("unix@", "ipv4@", "ipv6@"):
        if socket.startswith(prefix):
            socket = socket[len(prefix) :]
    if socket.startswith("/"):
        return socketlib.AF_UNIX, socket
    host, sep, port = socket.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SaltInvocationError(
            f"invalid runtime socket {socket!r}: use an absolute unix socket path or host:port"
        )
    family = socketlib.AF_INET6 if ":" in host else socketlib.AF_INET
    return family, (host, int(port))


def _connect(target, timeout):
    family, address = parse_socket(target)
    sock = socketlib.socket(family, socketlib.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except FileNotFoundError as err:
        sock.close()
        raise CommandExecutionError(
            f"HAProxy runtime socket {target} does not exist (is haproxy running?)"
        ) from err
    except PermissionError as err:
        sock.close()
        raise CommandExecutionError(
            f"permission denied on HAProxy runtime socket {target}"
        ) from err
    except TimeoutError as err:
        sock.close()
        raise CommandExecutionError(
            f"timed out connecting to HAProxy runtime socket {target}"
        ) from err
    except OSError as err:
        sock.close()
        raise CommandExecutionError(
            f"cannot connect to HAProxy runtime socket {target}: {err.strerror or err}"
        ) from err
    return sock


def _exchange(target, commands, timeout):
    """Send ``commands`` over one connection in prompt mode; return the raw reply text."""
    payload = ("prompt\n" + "".join(f"{command}\n" for command in commands) + "quit\n").encode()
    sock = _connect(target, timeout)
    sock.setblocking(False)
    received = []
    sent = 0
    selector = selectors.DefaultSelector()
    # Write and read together: a big batch must not fill both socket buffers and stall.
    selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    try:
        while sent < len(payload):
            events = selector.select(timeout)
            if not events:
                raise CommandExecutionError(
                    f"timed out after {timeout}s waiting for HAProxy runtime socket {target}"
                )
            _key, mask = events[0]
            if mask & selectors.EVENT_WRITE:
                sent += sock.send(payload[sent:])
            if mask & selectors.EVENT_READ:
                chunk = sock.recv(READ_CHUNK)
                if not chunk:
                    return _decode(received)  # closed early; the caller counts the answers
                received.append(chunk)
        # All sent: plain blocking reads until HAProxy closes after "quit".
        sock.settimeout(timeout)
        while chunk := sock.recv(READ_CHUNK):
            received.append(chunk)
    except TimeoutError as err:
        raise CommandExecutionError(
            f"timed out after {timeout}s waiting for HAProxy runtime socket {target}"
        ) from err
    except OSError as err:
        raise CommandExecutionError(
            f"HAProxy runtime socket {target} failed: {err.strerror or err}"
        ) from err
    finally:
        selector.close()
        sock.close()
    return _decode(received)


def _decode(chunks):
    return b"".join(chunks).decode("utf-8", errors="replace")


def _split_answers(text, commands, target):
    # The reply is: "\n> " after "prompt", then each answer followed by "\n> ".
    parts = text.split(PROMPT)
    answers = parts[1 : 1 + len(commands)]
    if len(answers) < len(commands) or len(parts) < len(commands) + 2:
        raise CommandExecutionError(
            f"HAProxy runtime socket {target} closed the connection after "
            f"{max(len(parts) - 2, 0)} of {len(commands)} answers"
        )
    return [answer[:-1] if answer.endswith("\n") else answer for answer in answers]


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
    return _batch([_validate_command(command) for command in commands], socket, timeout)


def _batch(commands, socket, timeout):
    """:py:func:`batch` for commands built here from validated names."""
    target = _resolve_socket(socket)
    timeout = _resolve_timeout(timeout)
    text = _exchange(target, commands, timeout)
    return _split_answers(text, commands, target)


def _is_error(answer):
    first = answer.strip().splitlines()[0] if answer.strip() else ""
    return first.startswith(ERROR_PREFIXES)


def _run_checked(commands, socket, timeout, what):
    """Run commands that answer nothing on success; raise naming each one that failed."""
    answers = _batch(commands, socket, timeout)
    failures = [
        f"{label}: {answer.strip().splitlines()[0]}"
        for label, answer in zip(what, answers)
        if answer.strip()
    ]
    if failures:
        done = len(commands) - len(failures)
        raise CommandExecutionError(
            f"HAProxy refused {len(failures)} of {len(commands)} commands "
            f"({done} applied): {'; '.join(failures)}"
        )
    return answers


def _run_query(command, socket, timeout):
    answer = batch([command], socket=socket, timeout=timeout)[0]
    if _is_error(answer):
        raise CommandExecutionError(f"HAProxy refused {command!r}: {answer.strip()}")
    return answer


# --- parsers ----------------------------------------------------------------------------


def _typed(value):
    if value == "":
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    return value


def parse_info(text):
    """
    Parse the answer of ``show info`` into a dict, numbers as ints.

    text
        The raw answer.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.parse_info "$(echo 'show info' | socat - /run/haproxy/admin.sock)"
    """
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = _typed(value.strip())
    return info


def parse_stat(text):
    """
    Parse the CSV answer of ``show stat`` into a list of dicts.

    Numbers become ints, empty fields ``None``; ``type`` is also given by name as
    ``type_name`` and the ``bck`` column as a boolean ``backup``.

    text
        The raw answer, starting with the ``# pxname,svname,...`` header.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.parse_stat "$(echo 'show stat' | socat - /run/haproxy/admin.sock)"
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise CommandExecutionError(f"unexpected 'show stat' answer: {text[:200]!r}")
    header = lines[0][2:].rstrip(",").split(",")
    rows = []
    for values in csv.reader(lines[1:]):
        row = {key: _typed(value) for key, value in zip(header, values)}
        row["type_name"] = STAT_TYPES.get(row.get("type"), "unknown")
        row["backup"] = row.get("bck") == 1
        rows.append(row)
    return rows


def admin_state_name(admin_state):
    """
    Name a ``srv_admin_state`` bit field: ``maint``, ``drain`` or ``ready``.

    admin_state
        The integer from ``show servers state``.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.admin_state_name 1
    """
    if admin_state & MAINT_FLAGS:
        return "maint"
    if admin_state & DRAIN_FLAGS:
        return "drain"
    return "ready"


def parse_servers_state(text):
    """
    Parse the answer of ``show servers state`` (format version 1) into a list of dicts.

    Each dict has the file's columns (without the ``srv_`` prefix where it has one, e.g.
    ``name``, ``admin_state``, ``op_state``), plus ``backend``, ``admin`` (``ready``,
    ``drain`` or ``maint``), ``admin_flags`` (names of the set bits) and ``op`` (state name).

    text
        The raw answer: a version line, a ``#`` header, one line per server.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.parse_servers_state "$(echo 'show servers state' | socat - /run/haproxy/admin.sock)"
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "1":
        raise CommandExecutionError(
            f"unexpected 'show servers state' answer (want format version 1): {text[:200]!r}"
        )
    header = None
    servers = []
    for line in lines[1:]:
        if line.startswith("#"):
            header = [
                column[4:] if column.startswith("srv_") else column for column in line[1:].split()
            ]
            continue
        if not line.strip():
            continue
        if header is None:
            raise CommandExecutionError("'show servers state' answer has no header line")
        entry = {key: _typed(value) for key, value in zip(header, line.split())}
        entry["backend"] = entry.get("be_name")
        admin_state = entry.get("admin_state") or 0
        entry["admin"] = admin_state_name(admin_state)
        entry["admin_flags"] = [name for bit, name in ADMIN_FLAGS.items() if admin_state & bit]
        entry["op"] = OP_STATES.get(entry.get("op_state"), "unknown")
        servers.append(entry)
    return servers


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
    return parse_info(_run_query("show info", socket, timeout))


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
        validate_name(backend, "backend")
    if server is not None:
        validate_name(server, "server")
    rows = parse_stat(_run_query("show stat", socket, timeout))
    return _filter_rows(rows, backend, server, "pxname", "svname")


def show_servers_state(backend=None, socket=None, timeout=None):
    """
    Return ``show servers state`` as a list of dicts (see :py:func:`parse_servers_state`).

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
        command += f" {validate_name(backend, 'backend')}"
    answer = batch([command], socket=socket, timeout=timeout)[0]
    if _is_error(answer) or answer.startswith("Can't find backend"):
        raise CommandExecutionError(f"HAProxy refused {command!r}: {answer.strip()}")
    return parse_servers_state(answer)


def _filter_rows(rows, backend, server, backend_key, server_key):
    if backend is not None:
        rows = [row for row in rows if row.get(backend_key) == backend]
        if not rows:
            raise CommandExecutionError(f"No such backend: {backend}")
    if server is not None:
        rows = [row for row in rows if row.get(server_key) == server]
        if not rows:
            raise CommandExecutionError(f"No such server: {backend or '*'}/{server}")
    return rows


def server_status(backend=None, socket=None, timeout=None):
    """
    Return every server of every backend (or of one), with what callers decide on.

    One connection runs ``show stat`` and ``show servers state``; the result is
    ``{backend: {server: {...}}}`` where each server has ``admin`` (ready/drain/maint),
    ``admin_flags``, ``status`` (``show stat`` status, e.g. ``UP``, ``DOWN``, ``MAINT``),
    ``backup`` (bool), ``sessions`` (current), ``address`` and ``weight``.

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
        validate_name(backend, "backend")
    stat_answer, state_answer = batch(
        ["show stat", "show servers state"], socket=socket, timeout=timeout
    )
    for command, answer in (("show stat", stat_answer), ("show servers state", state_answer)):
        if _is_error(answer):
            raise CommandExecutionError(f"HAProxy refused {command!r}: {answer.strip()}")
    states = {
        (entry["backend"], entry["name"]): entry for entry in parse_servers_state(state_answer)
    }
    result = {}
    for row in parse_stat(stat_answer):
        if row["type_name"] != "server":
            if row["type_name"] == "backend":
                result.setdefault(row["pxname"], {})
            continue
        state = states.get((row["pxname"], row["svname"]), {})
        result.setdefault(row["pxname"], {})[row["svname"]] = {
            "admin": state.get("admin", "ready"),
            "admin_flags": state.get("admin_flags", []),
            "op": state.get("op"),
            "status": row.get("status"),
            "check_status": row.get("check_status"),
            "backup": row["backup"],
            "sessions": row.get("scur") or 0,
            "address": row.get("addr"),
            "weight": row.get("weight"),
        }
    if backend is not None:
        if backend not in result:
            raise CommandExecutionError(f"No such backend: {backend}")
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
    if not isinstance(changes, (list, tuple)):
        raise SaltInvocationError("changes must be a list of {backend, server, state}")
    commands, labels = [], []
    for change in changes:
        if not isinstance(change, dict):
            raise SaltInvocationError(f"invalid change {change!r}: want {{backend, server, state}}")
        backend = validate_name(change.get("backend"), "backend")
        server = validate_name(change.get("server"), "server")
        state = _validate_state(change.get("state"))
        commands.append(f"set server {backend}/{server} state {state}")
        labels.append(f"{backend}/{server}")
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
    validate_name(backend, "backend")
    _validate_state(state)
    known = servers_of(backend, include_backup=True, socket=socket, timeout=timeout)
    if servers is None:
        names = [name for name, backup in known.items() if include_backup or not backup]
    else:
        names = _server_list(servers)
        unknown = [name for name in names if name not in known]
        if unknown:
            raise CommandExecutionError(
                f"No such server in backend {backend}: {', '.join(unknown)}"
            )
    changes = [{"backend": backend, "server": name, "state": state} for name in names]
    set_states(changes, socket=socket, timeout=timeout)
    return names


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
    validate_name(backend, "backend")
    validate_name(server, "server")
    text = str(weight)
    number = text[:-1] if text.endswith("%") else text
    if isinstance(weight, bool) or not number.isdigit() or int(number) > 256:
        raise SaltInvocationError(f"invalid weight {weight!r}: use 0 to 256, or a percentage")
    _run_checked(
        [f"set weight {backend}/{server} {text}"], socket, timeout, [f"{backend}/{server}"]
    )
    return True


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
    validate_name(backend, "backend")
    validate_name(server, "server")
    _run_checked(
        [f"shutdown sessions server {backend}/{server}"], socket, timeout, [f"{backend}/{server}"]
    )
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
        validate_name(name, "backend")
    wanted = None if servers is None else set(_server_list(servers))
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
        current = server_status(socket=socket, timeout=timeout)
        sessions = {}
        for name in backends:
            if name not in current:
                raise CommandExecutionError(f"No such backend: {name}")
            for server, info in current[name].items():
                if info["backup"] or (wanted is not None and server not in wanted):
                    continue
                sessions[f"{name}/{server}"] = info["sessions"]
        busy = {key: count for key, count in sessions.items() if count}
        now = time.monotonic()
        if not busy or now >= deadline:
            return {"drained": not busy, "waited": round(now - start, 3), "sessions": busy}
        time.sleep(min(interval, max(deadline - now, 0)))


def save_servers_state(path=None, socket=None, timeout=None):
    """
    Write ``show servers state`` to HAProxy's ``server-state-file``, atomically.

    HAProxy never writes this file itself; it reads it at start when
    ``load-server-state-from-file`` is set, which is how admin states (MAINT, DRAIN) survive
    a reload or restart. The file is written to a temporary name beside the target and
    renamed over it, so a reader sees the old file or the new one, never half of one.

    path
        Where to write; default from config ``haproxy_maint:haproxy:server_state_file``,
        else ``/var/lib/haproxy/server-state``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.save_servers_state
    """
    path = path or _config_value(STATE_FILE_CONFIG_KEY, DEFAULT_SERVER_STATE_FILE)
    if not isinstance(path, str) or not os.path.isabs(path):
        raise SaltInvocationError(f"server state file must be an absolute path, not {path!r}")
    answer = batch(["show servers state"], socket=socket, timeout=timeout)[0]
    servers_state = parse_servers_state(answer)
    text = answer if answer.endswith("\n") else answer + "\n"
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".server-state.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as err:
        raise CommandExecutionError(f"cannot write server state file {path}: {err}") from err
    return {"path": path, "servers": len(servers_state)}


# --- ACLs and maps loaded from files (issue 9) -------------------------------------------
#
# An ACL or a map that haproxy.cfg loads with ``-f <file>`` is named on the socket by that
# file's path. Changes through these commands take effect at once but live in memory only;
# whoever wants them to survive a reload writes the file too.

PATTERN_FILE_PATTERN = re.compile(r"/[A-Za-z0-9_./-]{1,4095}")
PATTERN_VALUE_PATTERN = re.compile(r"[A-Za-z0-9_.:/+=@-]{1,255}")


def _pattern_file(path, kind):
    if not isinstance(path, str) or not PATTERN_FILE_PATTERN.fullmatch(path):
        raise SaltInvocationError(
            f"invalid {kind} file {path!r}: use an absolute path of letters, digits, '_', '.', "
            "'/' or '-'"
        )
    return path


def _pattern_value(value, what):
    value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(value, str) or not PATTERN_VALUE_PATTERN.fullmatch(value):
        raise SaltInvocationError(
            f"invalid {what} {value!r}: use 1 to 255 letters, digits or '_.:/+=@-'"
        )
    return value


def _parse_entries(text, command):
    """``show map <file>`` / ``show acl <file>``: ``<ref> <key> [<value>]`` per line, each
    ``<ref>`` an address (``0x...``); any other answer is an error."""
    lines = [line for line in text.splitlines() if line.strip()]
    if any(not line.startswith("0x") for line in lines):
        raise CommandExecutionError(f"HAProxy refused {command!r}: {text.strip()}")
    return [line.split(None, 2)[1:] for line in lines]


def list_maps(socket=None, timeout=None):
    """
    Return the maps the running HAProxy loaded from files: ``[{"id": int, "file": path}]``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.list_maps
    """
    answer = _run_query("show map", socket, timeout)
    maps = []
    for line in answer.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        ident, _, rest = line.partition(" (")
        path = rest.partition(")")[0]
        if path and ident.lstrip("-").isdigit():
            maps.append({"id": int(ident), "file": path})
    return maps


def show_map(map_file, socket=None, timeout=None):
    """
    Return the entries of a map loaded from a file, as ``{key: value}``.

    map_file
        The map's file, as haproxy.cfg names it.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.show_map /var/lib/haproxy-maint/visitor/maintenance.map
    """
    command = f"show map {_pattern_file(map_file, 'map')}"
    answer = _batch([command], socket, timeout)[0]
    return {
        entry[0]: entry[1] if len(entry) > 1 else "" for entry in _parse_entries(answer, command)
    }


def show_acl(acl_file, socket=None, timeout=None):
    """
    Return the patterns of an ACL loaded from a file, as a list.

    acl_file
        The ACL's file, as haproxy.cfg names it.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.show_acl /var/lib/haproxy-maint/visitor/bypass.acl
    """
    command = f"show acl {_pattern_file(acl_file, 'ACL')}"
    answer = _batch([command], socket, timeout)[0]
    return [" ".join(entry) for entry in _parse_entries(answer, command)]


def replace_map(map_file, entries, socket=None, timeout=None):
    """
    Make a map hold exactly ``entries``: ``clear map``, then ``add map`` for each entry, over
    one connection. Every key and value is checked before anything is sent.

    map_file
        The map's file, as haproxy.cfg names it.

    entries
        ``{key: value}``; keys and values of letters, digits and ``_.:/+=@-``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.replace_map /var/lib/haproxy-maint/visitor/maintenance.map '{app: 0}'
    """
    map_file = _pattern_file(map_file, "map")
    if not isinstance(entries, dict):
        raise SaltInvocationError("entries must be a mapping of key to value")
    commands = [f"clear map {map_file}"]
    for key, value in sorted(entries.items()):
        key = _pattern_value(key, "map key")
        commands.append(f"add map {map_file} {key} {_pattern_value(value, 'map value')}")
    _run_checked(commands, socket, timeout, [map_file, *sorted(entries)])
    return dict(entries)


def replace_acl(acl_file, patterns, socket=None, timeout=None):
    """
    Make an ACL hold exactly ``patterns``: ``clear acl``, then ``add acl`` for each one, over
    one connection. Every pattern is checked before anything is sent.

    acl_file
        The ACL's file, as haproxy.cfg names it.

    patterns
        A list of patterns (addresses, CIDRs, words) of letters, digits and ``_.:/+=@-``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.replace_acl /var/lib/haproxy-maint/visitor/bypass.acl '[192.0.2.0/28]'
    """
    acl_file = _pattern_file(acl_file, "ACL")
    if not isinstance(patterns, (list, tuple)):
        raise SaltInvocationError("patterns must be a list")
    patterns = [_pattern_value(pattern, "ACL pattern") for pattern in patterns]
    commands = [f"clear acl {acl_file}"] + [f"add acl {acl_file} {p}" for p in patterns]
    _run_checked(commands, socket, timeout, [acl_file, *patterns])
    return patterns
