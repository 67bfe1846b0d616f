"""
HAProxy's runtime API protocol: names, the wire, the answers.

Used by the ``haproxy_runtime`` execution module (the only code that opens a runtime socket
on an LB). Names are checked before they reach a command by the one name rule
(:py:func:`saltext_haproxy_maint.names.check_name`); :py:func:`set_state_commands` builds a
checked batch of ``set server`` commands.

- :py:func:`exchange` sends many commands over one connection in prompt mode and maps every
  answer back to its command.
- The parsers turn ``show info``, ``show stat`` and ``show servers state`` into typed dicts.
- Errors are typed, all ``CommandExecutionError`` subclasses: the socket is unreachable
  (:py:class:`RuntimeUnreachable`), access to it is denied (:py:class:`RuntimeAccessDenied`),
  HAProxy refused a command (:py:class:`RuntimeRefused`), or its answer was not what the
  protocol says (:py:class:`RuntimeProtocolError`).
"""

import csv
import re
import selectors
import socket as socketlib
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

from saltext_haproxy_maint import names

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
FORCED_FLAGS = (0x01, 0x08)  # FMAINT, FDRAIN: what `set server ... state` sets
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


class RuntimeAPIError(CommandExecutionError):
    """A runtime API call failed."""


class RuntimeUnreachable(RuntimeAPIError):
    """Nothing answers on the socket: it does not exist, refuses, or times out."""


class RuntimeAccessDenied(RuntimeAPIError):
    """The socket exists but this process may not use it."""


class RuntimeRefused(RuntimeAPIError):
    """HAProxy answered a command with an error."""


class RuntimeProtocolError(RuntimeAPIError):
    """An answer is not what the protocol says (cut short, unknown format)."""


# --- names and commands -----------------------------------------------------------------

# A batch of `set server <backend>/<server> state <state>` lines, checked in one match.
_SET_STATE = (
    rf"set server {names.NAME_PATTERN.pattern}/{names.NAME_PATTERN.pattern} "
    rf"state (?:{'|'.join(names.SERVER_STATES)})"
)
SET_STATE_BATCH = re.compile(rf"{_SET_STATE}(?:\n{_SET_STATE})*")


def set_state_commands(changes):
    """
    Check a batch of ``{"backend", "server", "state"}`` changes and return the runtime
    commands and their labels (``backend/server``). One match checks the whole batch (and that
    no name carried a newline of its own); only a bad batch is checked change by change, so the
    message names what is wrong.

    changes
        The list of changes.
    """
    if not isinstance(changes, (list, tuple)):
        raise SaltInvocationError("changes must be a list of {backend, server, state}")
    try:
        # str.join takes text only: a field that is missing or not text falls to the checks.
        labels = ["/".join((change["backend"], change["server"])) for change in changes]
        commands = [
            "".join(("set server ", label, " state ", change["state"]))
            for label, change in zip(labels, changes)
        ]
        text = "\n".join(commands)
        batch_ok = text.count("\n") == len(commands) - 1 and SET_STATE_BATCH.fullmatch(text)
    except (TypeError, KeyError):
        batch_ok = False
    if not batch_ok:
        for change in changes:
            if not isinstance(change, dict):
                raise SaltInvocationError(
                    f"invalid change {change!r}: want {{backend, server, state}}"
                )
            names.check_name(change.get("backend"), "backend")
            names.check_name(change.get("server"), "server")
            names.check_state(change.get("state"))
    return (commands, labels) if changes else ([], [])


def check_command(command):
    """
    Return a raw runtime command if it is one command, else raise ``SaltInvocationError``.

    command
        The command text; ``;`` and newlines are refused (HAProxy would run several).
    """
    if not isinstance(command, str) or not command.strip():
        raise SaltInvocationError(f"invalid runtime command {command!r}")
    if any(char in command for char in ";\r\n"):
        raise SaltInvocationError(
            f"runtime command {command!r} holds ';' or a newline, which HAProxy would run "
            "as several commands; send them as separate items"
        )
    return command


def parse_socket(socket):
    """
    Split a runtime socket address into ``(family, address)``.

    socket
        A unix socket path (absolute) or ``host:port``; ``unix@`` and ``ipv4@``/``ipv6@``
        prefixes, as in haproxy.cfg, are accepted.
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


# --- the wire ---------------------------------------------------------------------------


def _connect(target, timeout):
    family, address = parse_socket(target)
    sock = socketlib.socket(family, socketlib.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except FileNotFoundError as err:
        sock.close()
        raise RuntimeUnreachable(
            f"HAProxy runtime socket {target} does not exist (is haproxy running?)"
        ) from err
    except PermissionError as err:
        sock.close()
        raise RuntimeAccessDenied(f"permission denied on HAProxy runtime socket {target}") from err
    except TimeoutError as err:
        sock.close()
        raise RuntimeUnreachable(
            f"timed out connecting to HAProxy runtime socket {target}"
        ) from err
    except OSError as err:
        sock.close()
        raise RuntimeUnreachable(
            f"cannot connect to HAProxy runtime socket {target}: {err.strerror or err}"
        ) from err
    return sock


def _send_and_read(target, payload, timeout):
    """Send ``payload``, read until HAProxy closes; return the raw bytes."""
    sock = _connect(target, timeout)
    sock.setblocking(False)
    received = []
    selector = None
    try:
        # One non-blocking send takes the whole batch whenever it fits in the socket buffer:
        # then no selector is needed and nothing can stall.
        try:
            sent = sock.send(payload)
        except BlockingIOError:
            sent = 0
        if sent < len(payload):
            # Write and read together: a big batch must not fill both socket buffers and stall.
            selector = selectors.DefaultSelector()
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        while sent < len(payload):
            events = selector.select(timeout)
            if not events:
                raise RuntimeUnreachable(
                    f"timed out after {timeout}s waiting for HAProxy runtime socket {target}"
                )
            _key, mask = events[0]
            if mask & selectors.EVENT_WRITE:
                sent += sock.send(payload[sent:])
            if mask & selectors.EVENT_READ:
                chunk = sock.recv(READ_CHUNK)
                if not chunk:
                    return b"".join(received)  # closed early; the caller counts the answers
                received.append(chunk)
        # All sent: plain blocking reads until HAProxy closes after "quit".
        sock.settimeout(timeout)
        while chunk := sock.recv(READ_CHUNK):
            received.append(chunk)
    except TimeoutError as err:
        raise RuntimeUnreachable(
            f"timed out after {timeout}s waiting for HAProxy runtime socket {target}"
        ) from err
    except OSError as err:
        raise RuntimeUnreachable(
            f"HAProxy runtime socket {target} failed: {err.strerror or err}"
        ) from err
    finally:
        if selector is not None:
            selector.close()
        sock.close()
    return b"".join(received)


def split_answers(text, count, target):
    """
    Split a prompt-mode reply into the answers of ``count`` commands.

    text
        The reply: ``"\\n> "`` after ``prompt``, then each answer followed by ``"\\n> "``.

    count
        How many commands were sent.

    target
        The socket, for the message when answers are missing.
    """
    parts = text.split(PROMPT)
    answers = parts[1 : 1 + count]
    if len(answers) < count or len(parts) < count + 2:
        raise RuntimeProtocolError(
            f"HAProxy runtime socket {target} closed the connection after "
            f"{max(len(parts) - 2, 0)} of {count} answers"
        )
    return [answer[:-1] if answer.endswith("\n") else answer for answer in answers]


def exchange(target, commands, timeout):
    """
    Run ``commands`` (already checked) over one connection; return their answers in order.

    target
        Unix socket path or ``host:port``.

    commands
        Runtime commands, each checked by :py:func:`check_command` or built from checked
        names.

    timeout
        Seconds to connect and for each read.
    """
    payload = ("prompt\n" + "\n".join(commands) + "\nquit\n").encode()
    text = _send_and_read(target, payload, timeout).decode("utf-8", errors="replace")
    if text == PROMPT * (len(commands) + 1):
        # Every command answered nothing (a batch of changes that all applied): no split.
        return [""] * len(commands)
    return split_answers(text, len(commands), target)


def is_error(answer):
    """
    Tell whether an answer is one of HAProxy's error answers.

    answer
        The answer text of one command.
    """
    first = answer.strip().splitlines()[0] if answer.strip() else ""
    return first.startswith(ERROR_PREFIXES)


def check_answer(command, answer):
    """
    Return ``answer``, or raise ``RuntimeRefused`` naming ``command`` if it is an error.

    command
        The command, for the message.

    answer
        Its answer.
    """
    if is_error(answer):
        raise RuntimeRefused(f"HAProxy refused {command!r}: {answer.strip()}")
    return answer


def check_silent(labels, answers):
    """
    For commands that answer nothing on success: raise ``RuntimeRefused`` naming each one
    that answered something, and how many others were applied.

    labels
        What each command acted on (``backend/server``), in order.

    answers
        Their answers, in order.
    """
    failures = [
        f"{label}: {answer.strip().splitlines()[0]}"
        for label, answer in zip(labels, answers)
        if answer.strip()
    ]
    if failures:
        done = len(answers) - len(failures)
        raise RuntimeRefused(
            f"HAProxy refused {len(failures)} of {len(answers)} commands "
            f"({done} applied): {'; '.join(failures)}"
        )
    return answers


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
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise RuntimeProtocolError(f"unexpected 'show stat' answer: {text[:200]!r}")
    header = lines[0][2:].rstrip(",").split(",")
    rows = []
    for values in csv.reader(lines[1:]):
        row = {key: _typed(value) for key, value in zip(header, values)}
        row["type_name"] = STAT_TYPES.get(row.get("type"), "unknown")
        row["backup"] = row.get("bck") == 1
        rows.append(row)
    return rows


def admin_state_name(admin_state, forced_only=False):
    """
    Name a ``srv_admin_state`` bit field: ``maint``, ``drain`` or ``ready``.

    admin_state
        The integer from ``show servers state``.

    forced_only
        Read only FMAINT and FDRAIN (what ``set server ... state`` sets).
    """
    maint, drain = FORCED_FLAGS if forced_only else (MAINT_FLAGS, DRAIN_FLAGS)
    if admin_state & maint:
        return "maint"
    if admin_state & drain:
        return "drain"
    return "ready"


def parse_servers_state(text):
    """
    Parse the answer of ``show servers state`` (format version 1) into a list of dicts.

    Each dict has the file's columns (without the ``srv_`` prefix where it has one, e.g.
    ``name``, ``admin_state``, ``op_state``), plus ``backend``, ``admin`` (``ready``,
    ``drain`` or ``maint``), ``forced`` (the same of the forced bits only), ``admin_flags``
    (names of the set bits) and ``op`` (state name).

    text
        The raw answer: a version line, a ``#`` header, one line per server.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "1":
        raise RuntimeProtocolError(
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
            raise RuntimeProtocolError("'show servers state' answer has no header line")
        entry = {key: _typed(value) for key, value in zip(header, line.split())}
        entry["backend"] = entry.get("be_name")
        admin_state = entry.get("admin_state") or 0
        entry["admin"] = admin_state_name(admin_state)
        entry["forced"] = admin_state_name(admin_state, forced_only=True)
        entry["admin_flags"] = [name for bit, name in ADMIN_FLAGS.items() if admin_state & bit]
        entry["op"] = OP_STATES.get(entry.get("op_state"), "unknown")
        servers.append(entry)
    return servers


def server_table(stat_answer, state_answer):
    """
    Join ``show stat`` and ``show servers state`` into ``{backend: {server: {...}}}``; each
    server has ``admin`` (ready/drain/maint), ``forced`` (the same of FMAINT/FDRAIN only),
    ``admin_flags``, ``op``, ``status`` (``UP``,
    ``DOWN``, ``MAINT`` ...), ``check_status``, ``backup``, ``sessions``, ``address``,
    ``fqdn`` (the configured host name, "" for an address) and ``weight``. Every backend appears, also one without servers.

    stat_answer
        The raw answer of ``show stat``.

    state_answer
        The raw answer of ``show servers state``.
    """
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
            "forced": state.get("forced", "ready"),
            "op": state.get("op"),
            "status": row.get("status"),
            "check_status": row.get("check_status"),
            "backup": row["backup"],
            "sessions": row.get("scur") or 0,
            "address": row.get("addr"),
            "fqdn": "" if state.get("fqdn") in (None, "-") else state["fqdn"],
            "weight": row.get("weight"),
        }
    return result


def parse_map_list(text):
    """
    Parse the answer of ``show map`` or ``show acl`` (no argument): ``[{"id": int, "file":
    path}]`` for every map or ACL loaded from a file.

    text
        The raw answer.
    """
    maps = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        ident, _, rest = line.partition(" (")
        path = rest.partition(")")[0]
        if path and ident.lstrip("-").isdigit():
            maps.append({"id": int(ident), "file": path})
    return maps


def parse_entries(text, command):
    """
    Parse ``show map <file>`` or ``show acl <file>``: ``[key]`` or ``[key, value]`` per line
    (each line is ``<ref> <key> [<value>]``, the ref an address ``0x...``); any other answer
    raises ``RuntimeRefused`` naming ``command``.

    text
        The raw answer.

    command
        The command, for the message.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if any(not line.startswith("0x") for line in lines):
        raise RuntimeRefused(f"HAProxy refused {command!r}: {text.strip()}")
    return [line.split(None, 2)[1:] for line in lines]


def wait_for_worker(show_info, *, since, wait, poll_interval):
    """
    Wait (bounded) until the runtime socket is served by a worker started at or after
    ``since``: right after a reload the old worker may still answer, and it does not know a
    server that was just added or renamed. Return whether one answered within ``wait``.

    show_info
        A function that returns the parsed ``show info`` (``haproxy_runtime.show_info``).

    since
        Seconds since 1970 (the config file's change).

    wait, poll_interval
        Seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            started = show_info().get("Start_time_sec")
        except RuntimeUnreachable:
            started = None  # the socket is briefly gone while the new worker binds it
        if isinstance(started, int) and started >= since:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_interval)


# --- maps and ACLs loaded from files ------------------------------------------------------

PATTERN_FILE_PATTERN = re.compile(r"/[A-Za-z0-9_./-]{1,4095}")
PATTERN_VALUE_PATTERN = re.compile(r"[A-Za-z0-9_.:/+=@-]{1,255}")


def check_pattern_file(path, kind):
    """
    Return the file of a map or ACL (as haproxy.cfg names it, which is how the runtime API
    names it too) or raise ``SaltInvocationError``.

    path
        An absolute path of letters, digits, ``_``, ``.``, ``/`` or ``-``.

    kind
        ``map`` or ``ACL``, for the message.
    """
    if not isinstance(path, str) or not PATTERN_FILE_PATTERN.fullmatch(path):
        raise SaltInvocationError(
            f"invalid {kind} file {path!r}: use an absolute path of letters, digits, '_', '.', "
            "'/' or '-'"
        )
    return path


def check_pattern_value(value, what):
    """
    Return a map key or value, or an ACL pattern, as text, or raise ``SaltInvocationError``.

    value
        1 to 255 letters, digits or ``_.:/+=@-`` (a whole number is taken as its digits).

    what
        What it is, for the message.
    """
    value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(value, str) or not PATTERN_VALUE_PATTERN.fullmatch(value):
        raise SaltInvocationError(
            f"invalid {what} {value!r}: use 1 to 255 letters, digits or '_.:/+=@-'"
        )
    return value
