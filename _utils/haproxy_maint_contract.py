"""
The contract: what a name, a maintenance request and an LB's configuration may be.

One home for every rule that more than one part applies: the master's runner (events and
operator calls), the LB's execution modules (their arguments), the state tree (``map.jinja``,
through ``haproxy_pillar.lb_config``) and the tests.

- **Names** (:py:func:`check_name`): HAProxy's runtime API treats ``;`` and newlines as command
  separators, so a backend or server name may only hold letters, digits, ``-``, ``_``, ``.``
  and ``:``, 1 to 64 of them; the pillar's backend and server names follow the same rule.
- **Requests** (:py:func:`parse` and the ``check_*`` functions): tags, fields, limits. Every
  check raises ``SaltInvocationError`` naming the field and, for values that the command
  line's YAML typed (``eta=22:00`` read as the number 1320), saying how to quote them.
- **An LB's configuration** (:py:func:`lb_config`): ``pillar['haproxy_maint']`` merged over the
  state tree's ``defaults.yaml``, validated (a bad key is named:
  ``haproxy_maint:haproxy:backends:app:servers:app1``), every backend completed with
  ``haproxy:backend_defaults``; :py:func:`maintained_backends` says which backends have the
  sorry server.

Salt loads utils modules without ``__utils__``, so this module needs no other one. Loaded as
``__utils__["haproxy_maint_contract.<function>"]``.
"""

import datetime
import ipaddress
import re

from salt.exceptions import SaltInvocationError

NAME_MAX_LENGTH = 64
NAME_PATTERN = re.compile(rf"[A-Za-z0-9_.:-]{{1,{NAME_MAX_LENGTH}}}")
SERVER_STATES = ("ready", "drain", "maint")
# A batch of `set server <backend>/<server> state <state>` lines, checked in one match.
_SET_STATE = (
    rf"set server {NAME_PATTERN.pattern}/{NAME_PATTERN.pattern} "
    rf"state (?:{'|'.join(SERVER_STATES)})"
)
SET_STATE_BATCH = re.compile(rf"{_SET_STATE}(?:\n{_SET_STATE})*")


# --- names -------------------------------------------------------------------------------


def check_name(name, kind="name"):
    """
    Return ``name`` if it is a valid proxy or server name, else raise
    ``SaltInvocationError`` naming ``kind``.

    name
        The name.

    kind
        What it names, for the message (``backend``, ``server``).
    """
    if not isinstance(name, str):
        raise SaltInvocationError(
            f"invalid {kind} name {name!r}: must be text, not {type(name).__name__}"
        )
    if not NAME_PATTERN.fullmatch(name):
        raise SaltInvocationError(
            f"invalid {kind} name {name!r}: use 1 to {NAME_MAX_LENGTH} letters, digits, "
            "'-', '_', '.' or ':'"
        )
    return name


def check_state(state):
    """
    Return ``state`` if it is ``ready``, ``drain`` or ``maint``, else raise
    ``SaltInvocationError``.

    state
        The admin state.
    """
    if state not in SERVER_STATES:
        raise SaltInvocationError(
            f"invalid server state {state!r}: use one of {', '.join(SERVER_STATES)}"
        )
    return state


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
            check_name(change.get("backend"), "backend")
            check_name(change.get("server"), "server")
            check_state(change.get("state"))
    return (commands, labels) if changes else ([], [])


# --- requests ----------------------------------------------------------------------------

START_TAG = "maint/start"
STOP_TAG = "maint/stop"
CANCEL_TAG = "maint/cancel"
RESULT_TAG = "maint/result"
REJECTED_TAG = "maint/rejected"
ACTIONS = {START_TAG: "start", STOP_TAG: "stop", CANCEL_TAG: "cancel"}
TAGS = {action: tag for tag, action in ACTIONS.items()}
FIELDS = {
    START_TAG: (
        "env",
        "backends",
        "mode",
        "drain_timeout",
        "reason",
        "eta",
        "eta_at",
        "bypass",
        "at",
        "duration",
        "test",
    ),
    STOP_TAG: ("env", "backends", "test"),
    CANCEL_TAG: ("env",),
}
MODES = ("maint", "drain")
ENV_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_BACKENDS = 200
MAX_BYPASS = 50
BYPASS_MAX_LENGTH = 50
# The widest bypass accepted per IP version: never everyone (0.0.0.0/0, ::/0) or half of it.
BYPASS_MIN_PREFIX = {4: 8, 6: 16}
REASON_MAX_LENGTH = 500
ETA_MAX_LENGTH = 100
DRAIN_TIMEOUT_MAX = 3600
# A scheduled window: at most a year ahead, at most a week long.
AT_MAX_AHEAD_S = 366 * 86400
DURATION_MAX_S = 7 * 86400
DURATION_PATTERN = re.compile(r"([0-9]{1,7})(s|m|h|d)?")
DURATION_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# What Salt puts in place of a value when an event is larger than max_event_size.
TRIMMED_MARKER = "VALUE_TRIMMED"


def _typed_hint(name, value):
    """The message for a value that is not text: YAML on the command line typed it."""
    kind = type(value).__name__
    if isinstance(value, bool):
        return f"{name} must be text, not a boolean: quote it, e.g. {name}='\"yes\"'"
    if isinstance(value, (int, float)):
        return (
            f"{name} must be text, not a number ({value!r}; YAML reads 22:00 as 1320): "
            f"quote it, e.g. {name}='\"22:00 UTC\"'"
        )
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"{name} must be text, not a date: quote it, e.g. {name}='\"{value}\"'"
    return f"{name} must be text, not {kind}"


def check_text(value, name, limit):
    """
    Return a text field ("" for None) or raise: not text, longer than ``limit``, control
    characters or newlines, or Salt's trimmed-value marker.

    value
        The field's value.

    name
        The field's name, for the message.

    limit
        The most characters allowed.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SaltInvocationError(_typed_hint(name, value))
    if value.strip() == TRIMMED_MARKER:
        raise SaltInvocationError(
            f"{name} was trimmed by Salt (the event was larger than max_event_size)"
        )
    if len(value) > limit:
        raise SaltInvocationError(f"{name} is longer than {limit} characters")
    if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in value):
        raise SaltInvocationError(f"{name} must not hold control characters or newlines")
    return value


def check_reason(value):
    """
    Return the page's reason text ("" for None), at most 500 characters; see
    :py:func:`check_text`.

    value
        The field's value.
    """
    return check_text(value, "reason", REASON_MAX_LENGTH)


def check_eta(value):
    """
    Return the page's ETA text ("" for None), at most 100 characters; see
    :py:func:`check_text`.

    value
        The field's value.
    """
    return check_text(value, "eta", ETA_MAX_LENGTH)


def tag_for(action):
    """
    Return the event tag of ``start``, ``stop`` or ``cancel``, else raise.

    action
        The action.
    """
    if action not in TAGS:
        raise SaltInvocationError(f"action must be one of {', '.join(TAGS)}, not {action!r}")
    return TAGS[action]


def check_env(value):
    """
    Return an environment name or raise (the name becomes part of file and cache keys).

    value
        The name.
    """
    if not isinstance(value, str) or not ENV_PATTERN.fullmatch(value):
        raise SaltInvocationError(
            f"invalid env {value!r}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )
    return value


def check_backends(value, sorry_names=()):
    """
    Return ``None`` (absent: every maintained backend) or the sorted, unique names of a
    non-empty list, each checked by the runtime API's name rule and none a sorry server.

    value
        The field's value.

    sorry_names
        Names of sorry servers, refused as backends.
    """
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise SaltInvocationError(
            f"backends must be a list of backend names, not {type(value).__name__}"
        )
    if not value:
        raise SaltInvocationError("backends is an empty list; leave it out to mean every backend")
    if len(value) > MAX_BACKENDS:
        raise SaltInvocationError(f"backends lists more than {MAX_BACKENDS} names")
    names = []
    for name in value:
        check_name(name, "backend")
        if name in sorry_names:
            raise SaltInvocationError(f"{name!r} is the sorry server, not a backend")
        names.append(name)
    return sorted(set(names))


def check_mode(value):
    """
    Return ``maint`` (for None) or ``drain``, else raise.

    value
        The field's value.
    """
    if value is None:
        return "maint"
    if value not in MODES:
        raise SaltInvocationError(f"mode must be one of {', '.join(MODES)}, not {value!r}")
    return value


def check_drain_timeout(value):
    """
    Return a number of seconds from 0 to 3600, else raise.

    value
        The field's value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SaltInvocationError("drain_timeout must be a number of seconds")
    if not 0 <= value <= DRAIN_TIMEOUT_MAX:
        raise SaltInvocationError(f"drain_timeout must be between 0 and {DRAIN_TIMEOUT_MAX}")
    return value


def check_test(value):
    """
    Return a dry-run flag: ``True``/``False`` only (absent is False).

    value
        The field's value.
    """
    if value is None:
        return False
    if not isinstance(value, bool):
        raise SaltInvocationError(f"test must be true or false, not {value!r}")
    return value


def parse_time(value, name):
    """
    Return an aware UTC datetime from an ISO 8601 text with a zone, else raise.

    value
        The text (``2026-11-28T02:00:00Z``, ``2026-11-28T03:00+01:00``).

    name
        The field's name, for the message.
    """
    if isinstance(value, (datetime.date, datetime.datetime)):
        raise SaltInvocationError(_typed_hint(name, value))
    text = check_text(value, name, 40)
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as err:
        raise SaltInvocationError(
            f"{name} must be ISO 8601 with a zone, e.g. 2026-11-28T02:00:00Z, not {value!r}"
        ) from err
    if when.tzinfo is None:
        raise SaltInvocationError(f"{name} must name its zone (Z or +01:00), not {value!r}")
    return when.astimezone(datetime.timezone.utc)


def format_time(when):
    """
    ISO 8601 in UTC with a ``Z``, to the second.

    when
        An aware datetime.
    """
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_eta_at(value):
    """
    Return the machine-readable end of maintenance as ISO 8601 UTC text ("" for None).

    value
        ISO 8601 text with a zone.
    """
    if value is None or value == "":
        return ""
    return format_time(parse_time(value, "eta_at"))


def check_duration(value):
    """
    Return a window's length in seconds: ``90m``, ``2h``, ``1d``, ``45s`` or a number of
    seconds; at least one second, at most a week.

    value
        The field's value.
    """
    if isinstance(value, bool):
        raise SaltInvocationError(f"duration must be like 90m, 2h or seconds, not {value!r}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and DURATION_PATTERN.fullmatch(value.strip()):
        number, unit = DURATION_PATTERN.fullmatch(value.strip()).groups()
        seconds = int(number) * DURATION_UNITS[unit]
    else:
        raise SaltInvocationError(f"duration must be like 90m, 2h or seconds, not {value!r}")
    if not 1 <= seconds <= DURATION_MAX_S:
        raise SaltInvocationError(
            f"duration must be between 1 second and {DURATION_MAX_S // 86400} days"
        )
    return seconds


def check_bypass(value):
    """
    Return the bypass as sorted, canonical CIDRs (``[]`` for None): at most 50, host bits
    clear, none wider than /8 (IPv4) or /16 (IPv6), so never everyone (``0.0.0.0/0``,
    ``::/0``) or half of it; IPv4 networks given as IPv4. An address alone is one host.

    value
        A list of CIDRs or addresses.
    """
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise SaltInvocationError(f"bypass must be a list of CIDRs, not {type(value).__name__}")
    if len(value) > MAX_BYPASS:
        raise SaltInvocationError(f"bypass lists more than {MAX_BYPASS} ranges")
    networks = set()
    for item in value:
        if not isinstance(item, str) or not 0 < len(item) <= BYPASS_MAX_LENGTH:
            raise SaltInvocationError(
                f"invalid bypass range {item!r}: want a CIDR such as 10.0.0.0/24"
            )
        try:
            network = ipaddress.ip_network(item, strict=True)
        except ValueError as err:
            raise SaltInvocationError(f"invalid bypass range {item!r}: {err}") from err
        if network.prefixlen == 0:
            raise SaltInvocationError(f"bypass range {item!r} is every address; name the team's")
        if network.prefixlen < BYPASS_MIN_PREFIX[network.version]:
            raise SaltInvocationError(
                f"bypass range {item!r} is too wide: at most "
                f"/{BYPASS_MIN_PREFIX[network.version]} for IPv{network.version}"
            )
        if network.version == 6 and network.network_address.ipv4_mapped is not None:
            raise SaltInvocationError(f"bypass range {item!r}: give IPv4 networks as IPv4")
        networks.add(network)
    return [str(network) for network in sorted(networks, key=lambda n: (n.version, n))]


def parse(tag, fields, default_env=None, now=None):
    """
    Check a request's fields and return ``(action, env, params)``; raise
    ``SaltInvocationError`` saying why when anything is off.

    ``params`` holds every field of the action, normalised: ``backends`` (None: all),
    ``test``; for a start also ``mode``, ``drain_timeout`` (None: the LB's default),
    ``reason``, ``eta``, ``eta_at``, ``bypass``, ``at`` (ISO UTC or ""), ``duration``
    (seconds or None). That the env exists, who sent it and which backends it declares
    are the caller's to check.

    tag
        ``maint/start``, ``maint/stop`` or ``maint/cancel``.

    fields
        The request's data.

    default_env
        The env of a request that names none (None: refused).

    now
        The current time (aware datetime), for ``at``.
    """
    if tag not in FIELDS:
        raise SaltInvocationError(f"unknown tag {tag!r}")
    if not isinstance(fields, dict):
        raise SaltInvocationError(f"the request must be a mapping, not {type(fields).__name__}")
    unknown = sorted(str(key) for key in fields if key not in FIELDS[tag])
    if unknown:
        raise SaltInvocationError(
            f"unknown fields: {', '.join(unknown)[:200]} (allowed: {', '.join(FIELDS[tag])})"
        )
    env = fields.get("env", default_env)
    if env is None:
        raise SaltInvocationError("env is missing and no default_env is configured")
    env = check_env(env)
    params = {}
    if tag == CANCEL_TAG:
        return ACTIONS[tag], env, params
    params["backends"] = check_backends(fields.get("backends"))
    params["test"] = check_test(fields.get("test"))
    if tag == STOP_TAG:
        return ACTIONS[tag], env, params
    params["mode"] = check_mode(fields.get("mode"))
    params["drain_timeout"] = None
    if fields.get("drain_timeout") is not None:
        if params["mode"] != "drain":
            raise SaltInvocationError("drain_timeout is only for mode 'drain'")
        params["drain_timeout"] = check_drain_timeout(fields["drain_timeout"])
    params["reason"] = check_reason(fields.get("reason"))
    params["eta"] = check_eta(fields.get("eta"))
    params["eta_at"] = check_eta_at(fields.get("eta_at"))
    params["bypass"] = check_bypass(fields.get("bypass"))
    params["at"] = ""
    if fields.get("at") is not None:
        now = now or datetime.datetime.now(datetime.timezone.utc)
        when = parse_time(fields["at"], "at")
        if (when - now).total_seconds() > AT_MAX_AHEAD_S:
            raise SaltInvocationError("at is more than a year ahead")
        params["at"] = format_time(when)
    params["duration"] = None
    if fields.get("duration") is not None:
        params["duration"] = check_duration(fields["duration"])
    return ACTIONS[tag], env, params


# --- an LB's configuration ---------------------------------------------------------------

ROOT = "haproxy_maint"
NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# What may follow a name on an haproxy.cfg line: words of safe characters, no newline.
OPTION_RE = re.compile(r"^[A-Za-z0-9_.:/@,=+-]+( [A-Za-z0-9_.:/@,=+-]+)*$")
DURATION_RE = re.compile(r"^[0-9]+(us|ms|s|m|h|d)?$")
SIZE_RE = re.compile(r"^[0-9]+(KB|MB|GB)?$")
MODE_RE = re.compile(r"^0?[0-7]{3}$")
SALT_URL_RE = re.compile(r"^(salt|https?|file)://\S+$")
MANAGERS = ("system", "supervisord")
SIGNALS = ("TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2")
BINDS = ("http", "https")


def _fail(path, problem):
    raise SaltInvocationError(f"pillar key {path}: {problem}")


def _text(path, value):
    if not isinstance(value, str):
        _fail(path, f"expected a string, got {type(value).__name__}")
    if "\n" in value or "\r" in value:
        _fail(path, "must be a single line")
    return value


def _pem(path, value):
    if not isinstance(value, str):
        _fail(path, f"expected PEM text, got {type(value).__name__}")
    if value and "-----BEGIN " not in value:
        _fail(path, "is not PEM text")
    return value


def _proxy_name(path, value):
    """A backend or server name: the runtime API's one name rule."""
    try:
        return check_name(value, "proxy or server")
    except SaltInvocationError as err:
        _fail(path, str(err))


def _name(path, value):
    if not isinstance(value, str) or not NAME_RE.match(value):
        _fail(path, f"{value!r} is not a name matching {NAME_RE.pattern}")
    return value


def _env(path, value):
    return value if value == "" else _name(path, value)


def _words(path, value):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not OPTION_RE.match(_text(path, value)):
        _fail(path, f"{value!r} is not a list of plain words")
    return value


def _bool(path, value):
    if not isinstance(value, bool):
        _fail(path, f"expected true or false, got {value!r}")
    return value


def _number(path, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        _fail(path, f"expected a positive number, got {value!r}")
    return value


def _count(path, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(path, f"expected a whole number >= 0, got {value!r}")
    return value


def _positive_count(path, value):
    if _count(path, value) == 0:
        _fail(path, "expected a whole number > 0, got 0")
    return value


def _port(path, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        _fail(path, f"expected a port 1-65535, got {value!r}")
    return value


def _pattern(regex, what):
    def check(path, value):
        if not isinstance(value, (str, int)) or not regex.match(str(value)):
            _fail(path, f"{value!r} is not {what}")
        return value

    return check


def _one_of(choices):
    def check(path, value):
        if value not in choices:
            _fail(path, f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


def _abs_path(path, value):
    if not _text(path, value).startswith("/") or " " in value:
        _fail(path, f"{value!r} is not an absolute path without spaces")
    return value


def _command(path, value):
    """A program: an absolute path, or a bare name looked up in PATH."""
    if "/" in _text(path, value):
        return _abs_path(path, value)
    return _name(path, value)


def _source(path, value):
    if value and not SALT_URL_RE.match(_text(path, value)):
        _fail(path, f"{value!r} is not a salt://, http(s):// or file:// URL")
    return value


def _host(path, value):
    """An IPv4 address, a bracketed IPv6 address or a host name."""
    if value.startswith("[") and value.endswith("]"):
        try:
            ipaddress.IPv6Address(value[1:-1])
        except ValueError:
            _fail(path, f"{value!r} is not an IPv6 address")
        return value
    if not HOSTNAME_RE.match(value):
        _fail(path, f"{value!r} is not a host name or address")
    return value


def split_hostport(path, value):
    """
    Split ``host:port`` (IPv6 in brackets) into ``(host, port)``; ``path`` is the pillar key
    named in the error message.
    """
    if not isinstance(value, str) or ":" not in value:
        _fail(path, f"{value!r} is not host:port")
    host, _, port = value.rpartition(":")
    if not port.isdigit():
        _fail(path, f"{value!r} has no numeric port")
    _port(path, int(port))
    return host, int(port)


def _server(path, value):
    host, _ = split_hostport(path, value)
    _host(path, host)
    return value


def _bind(path, value):
    """A listening address: host:port, ``*:port`` or ``:port``; "" disables it."""
    if value == "":
        return value
    host, _ = split_hostport(path, value)
    if host not in ("", "*"):
        _host(path, host)
    return value


def is_loopback(host):
    """Tell whether ``host`` is an address in 127.0.0.0/8 or ``::1`` (bracketed or not)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _loopback(path, value):
    """The TCP runtime socket: anyone who reaches it can stop every server."""
    if value == "":
        return value
    host, _ = split_hostport(path, value)
    if not is_loopback(host):
        _fail(path, f"{value!r}: a TCP runtime socket must bind 127.0.0.0/8 or ::1")
    return value


def _runtime_socket(path, value):
    """The admin socket the states and haproxy_runtime use: a unix path or loopback host:port."""
    if isinstance(value, str) and value.startswith("/"):
        return _abs_path(path, value)
    if value == "":
        _fail(path, "must not be empty")
    return _loopback(path, value)


def _socket_mode(path, value):
    """The unix runtime socket is admin level: nothing for others (600 or 660)."""
    if not isinstance(value, (str, int)) or not MODE_RE.match(str(value)):
        _fail(path, f"{value!r} is not an octal mode such as 600 or 660")
    if str(value)[-1] != "0":
        _fail(path, f"{value!r} gives others access to the admin socket; use 600 or 660")
    return value


def _list_of(check):
    def check_list(path, value):
        if not isinstance(value, list):
            _fail(path, f"expected a list, got {type(value).__name__}")
        return [check(f"{path}:{index}", item) for index, item in enumerate(value)]

    return check_list


def _mapping_of(check, allow_empty=True):
    def check_mapping(path, value):
        if not isinstance(value, dict):
            _fail(path, f"expected a mapping, got {type(value).__name__}")
        if not value and not allow_empty:
            _fail(path, "must not be empty")
        return {
            _proxy_name(f"{path}:{key}", key): check(f"{path}:{key}", item)
            for key, item in value.items()
        }

    return check_mapping


def _dict(schema):
    def check_dict(path, value):
        if not isinstance(value, dict):
            _fail(path, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in schema:
                _fail(f"{path}:{key}", "unknown key")
        for key in schema:
            if key not in value or value[key] is None:
                _fail(f"{path}:{key}", "missing")
        return {key: check(f"{path}:{key}", value[key]) for key, check in schema.items()}

    return check_dict


_duration = _pattern(DURATION_RE, "a duration such as 500ms, 10s or 1m")
_BIND = _dict({"http": _bind, "https": _bind})
_BACKEND = _dict(
    {
        "servers": _mapping_of(_server, allow_empty=False),
        "sorry": _bool,
        "balance": _name,
        "bind": _BIND,
    }
)

# --- the visitor's side: bypass secret, cookie and header names ---------------------------

SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HEADER_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")


def _secret(path, value):
    """The bypass secret: compared literally by HAProxy, sent in a cookie or a header, so
    only characters that are safe in all three; long enough not to be guessed."""
    if value != "" and (not isinstance(value, str) or not SECRET_RE.match(value)):
        _fail(path, f'must be "" or 16-128 of A-Z a-z 0-9 _ - (got {len(str(value))} characters)')
    return value


_VISITOR = _dict(
    {
        "retry_after": _count,
        "asset_max_age": _count,
        "poll_interval": _number,
        "cache": _dict(
            {
                "max_age": _positive_count,
                "last_good_max_age": _positive_count,
                "max_object_bytes": _positive_count,
                "size_mb": _positive_count,
            }
        ),
        "map_file": _abs_path,
        "bypass_file": _abs_path,
        "bypass": _dict(
            {
                "secret": _secret,
                "secret_file": _abs_path,
                "cookie": _pattern(COOKIE_RE, "a cookie name of A-Z a-z 0-9 _ -"),
                "header": _pattern(HEADER_RE, "a header name of A-Z a-z 0-9 -"),
                "backend_suffix": _pattern(SUFFIX_RE, "a name suffix of A-Z a-z 0-9 _ . : -"),
            }
        ),
    }
)


# Bytes HAProxy's cache keeps for an answer's headers on top of the largest page file (the
# template, haproxy.cfg.jinja's CACHE_HEADER_ROOM, adds the same to max-object-size).
CACHE_HEADER_ROOM = 8192


def _check_page_cache(cache):
    """HAProxy refuses a cache whose objects may exceed half of its memory."""
    path = f"{ROOT}:visitor:cache"
    if 2 * (cache["max_object_bytes"] + CACHE_HEADER_ROOM) > cache["size_mb"] * 1024 * 1024:
        _fail(
            f"{path}:size_mb",
            f"{cache['size_mb']} MB holds fewer than two objects of max_object_bytes "
            f"{cache['max_object_bytes']} (+{CACHE_HEADER_ROOM} for headers): raise size_mb",
        )


def _check_visitor(config):
    """A backend may not be named like another one's bypass backend."""
    _check_page_cache(config["visitor"]["cache"])
    suffix = config["visitor"]["bypass"]["backend_suffix"]
    for name in config["haproxy"]["backends"]:
        if name.endswith(suffix):
            _fail(
                f"{ROOT}:haproxy:backends:{name}",
                f"ends with {suffix!r}, the suffix of the bypass backends "
                "(visitor:bypass:backend_suffix)",
            )


SCHEMA = _dict(
    {
        "env": _env,
        "haproxy": _dict(
            {
                "package": _name,
                "binary": _command,
                "user": _name,
                "group": _name,
                "chroot": lambda path, value: value and _abs_path(path, value),
                "config_file": _abs_path,
                "errors_dir": _abs_path,
                "server_state_file": _abs_path,
                "maxconn": _count,
                "log": _words,
                "service": _dict({"manager": _one_of(MANAGERS), "name": _name, "program": _name}),
                "runtime": _dict(
                    {
                        "socket": _runtime_socket,
                        "mode": _socket_mode,
                        "timeout": _number,
                        "tcp": _loopback,
                    }
                ),
                "timeouts": _mapping_of(_duration),
                "retries": _count,
                "default_server": _mapping_of(_words),
                "server_options": _words,
                "backend_defaults": _dict({"sorry": _bool, "balance": _name, "bind": _BIND}),
                "backends": _mapping_of(lambda path, value: value),
            }
        ),
        "tls": _dict(
            {
                "pem": _pem,
                "pem_source": _source,
                "cert_file": _abs_path,
                "self_signed": _dict(
                    {
                        "common_name": _name,
                        "days_valid": _count,
                        "days_remaining": _count,
                        "key_size": _count,
                    }
                ),
            }
        ),
        "page": _dict(
            {
                "root": _abs_path,
                "source": _source,
                "archive": lambda path, value: (
                    value and _dict({"source": _source, "source_hash": _text})(path, value)
                ),
                "user": _name,
                "group": _name,
            }
        ),
        "sorry_server": _dict(
            {
                "name": _proxy_name,
                "host": _host,
                "port": _port,
                "maxconn": _count,
                "maxqueue": _count,
                "program": _name,
                "npm_package": _name,
                "version": _name,
                "binary": _command,
                "options": _words,
                "user": _name,
                "autostart": _bool,
                "autorestart": _bool,
                "stopsignal": _one_of(SIGNALS),
                "log_file": _abs_path,
                "log_maxbytes": _pattern(SIZE_RE, "a size such as 1MB"),
                "log_backups": _count,
            }
        ),
        "node": _dict({"packages": _list_of(_name)}),
        "supervisor": _dict(
            {
                "package": _name,
                "service": _name,
                "manage_service": _bool,
                "conf_file": _abs_path,
                "programs_dir": _abs_path,
            }
        ),
        "maintenance": _dict(
            {"state_file": _abs_path, "drain_timeout": _number, "not_up_wait": _count}
        ),
        "visitor": _VISITOR,
    }
)


def _merge_backend_defaults(haproxy):
    """Every backend gets ``backend_defaults`` under its own keys (one level of bind)."""
    defaults = haproxy["backend_defaults"]
    backends = {}
    for name, backend in haproxy["backends"].items():
        if not isinstance(backend, dict):
            _fail(f"{ROOT}:haproxy:backends:{name}", "expected a mapping")
        merged = {**defaults, **backend}
        merged["bind"] = {**defaults["bind"], **(backend.get("bind") or {})}
        backends[name] = _BACKEND(f"{ROOT}:haproxy:backends:{name}", merged)
    return backends


def _binds_overlap(path, one, other):
    """Same port, and the same host or a wildcard on either side."""
    host, port = split_hostport(path, one)
    other_host, other_port = split_hostport(path, other)
    wildcards = ("", "*", "0.0.0.0", "[::]")
    return port == other_port and (
        host == other_host or host in wildcards or other_host in wildcards
    )


def _check_cross_keys(config):
    """Rules between keys: unique binds, the sorry server's name free in every backend."""
    sorry_name = config["sorry_server"]["name"]
    seen = []
    for name, backend in config["haproxy"]["backends"].items():
        path = f"{ROOT}:haproxy:backends:{name}"
        if backend["sorry"] and sorry_name in backend["servers"]:
            _fail(f"{path}:servers:{sorry_name}", "is the sorry server's name")
        if not any(backend["bind"].values()):
            _fail(f"{path}:bind", "needs an http or https address")
        for kind, address in backend["bind"].items():
            if not address:
                continue
            key = f"{path}:bind:{kind}"
            for other_key, other in seen:
                if _binds_overlap(key, address, other):
                    _fail(key, f"{address} overlaps {other} of {other_key}")
            seen.append((key, address))
    tls = config["tls"]
    if tls["pem"] and tls["pem_source"]:
        _fail(f"{ROOT}:tls:pem", "set pem or pem_source, not both")


def merge(base, override):
    """
    Merge ``override`` over ``base`` recursively (mappings merge, anything else replaces),
    as the state tree's ``slsutil.merge(..., strategy="recurse")`` does.

    base
        The defaults.

    override
        The pillar.
    """
    merged = dict(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate(config):
    """
    Check the merged ``haproxy_maint`` map of one LB and return it, completed.

    Each backend gets ``haproxy:backend_defaults`` merged under its own keys. Raises
    ``SaltInvocationError`` naming the first bad key, as ``haproxy_maint:<path>``: missing or
    unknown keys, wrong types, names that break the runtime API's name rule, malformed
    ``host:port``, ports out of range, relative paths, a TCP runtime socket off loopback, a
    runtime socket mode open to others, a bind used twice.

    config
        The map: ``defaults.yaml`` with ``pillar['haproxy_maint']`` merged over it.
    """
    result = SCHEMA(ROOT, config)
    result["haproxy"]["backends"] = _merge_backend_defaults(result["haproxy"])
    _check_cross_keys(result)
    _check_visitor(result)
    return result


def lb_config(defaults, pillar):
    """
    Return an LB's validated configuration: ``pillar`` merged over ``defaults``.

    defaults
        The ``haproxy_maint`` mapping of ``defaults.yaml``.

    pillar
        The LB's ``haproxy_maint`` pillar (``{}`` or None for none).
    """
    if pillar is not None and not isinstance(pillar, dict):
        _fail(ROOT, f"expected a mapping, got {type(pillar).__name__}")
    return validate(merge(defaults, pillar or {}))


def maintained_backends(config):
    """
    The backends that maintenance acts on by default: those with the sorry server as their
    ``backup`` (``sorry`` after ``backend_defaults`` is merged), sorted.

    config
        A configuration returned by :py:func:`lb_config`.
    """
    return sorted(
        name for name, backend in config["haproxy"]["backends"].items() if backend["sorry"]
    )
