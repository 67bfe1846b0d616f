"""
The maintenance request: its fields, their limits, and :py:func:`parse`, which checks a whole
request.

One home for the rules that the master's runner (events and operator calls), the LB's
``haproxy_maint`` module (its arguments) and the operator's signed request client apply.
Every check raises ``SaltInvocationError`` naming the field and, for values that the command
line's YAML typed (``eta=22:00`` read as the number 1320), saying how to quote them.
"""

import datetime
import ipaddress
import re

from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import names, timefmt

FIELDS = {
    names.START_TAG: (
        "env",
        "backends",
        "mode",
        "drain_timeout",
        "reason",
        "eta",
        "eta_at",
        "bypass",
        "paths",
        "at",
        "duration",
        "test",
    ),
    names.STOP_TAG: ("env", "backends", "test"),
    names.CANCEL_TAG: ("env",),
}
MODES = ("maint", "drain")
# The fields that the LB module's start and stop take (the master sends only these): all but
# the env (the master's to resolve) and the window (the master's to run). And the fields of a
# start that an environment's desired state keeps, with their value when absent (a returning
# LB gets them back; paths are kept per backend, by desired.next_desired). A new field is
# added in FIELDS, parse and, if kept, RECORDED_FIELDS.
LB_FIELDS = {
    "start": tuple(key for key in FIELDS[names.START_TAG] if key not in ("env", "at", "duration")),
    "stop": tuple(key for key in FIELDS[names.STOP_TAG] if key != "env"),
}
RECORDED_FIELDS = {
    "mode": "maint",
    "reason": "",
    "eta": "",
    "eta_at": "",
    "bypass": [],
}
MAX_BACKENDS = 200
MAX_BYPASS = 50
BYPASS_MAX_LENGTH = 50
MAX_PATHS = 50
# With the backend's name (up to 64) a key of HAProxy's paths map: at most 255 characters.
PATH_MAX_LENGTH = 190
# A path prefix as it goes into HAProxy's map (the runtime API's map key rule,
# runtime.check_pattern_value): no space, control character, quote, "#", "?", "%" or ";"
# (which separates runtime commands).
PATH_PATTERN = re.compile(r"/[A-Za-z0-9_.:/+=@-]*")
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
TIME_MAX_LENGTH = 40


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
    checked = []
    for name in value:
        names.check_name(name, "backend")
        if name in sorry_names:
            raise SaltInvocationError(f"{name!r} is the sorry server, not a backend")
        checked.append(name)
    return sorted(set(checked))


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


def check_time(value, name):
    """
    Return an aware UTC datetime from ISO 8601 text with a zone, else raise.

    value
        The text (``2026-11-28T02:00:00Z``, ``2026-11-28T03:00+01:00``).

    name
        The field's name, for the message.
    """
    if isinstance(value, (datetime.date, datetime.datetime)):
        raise SaltInvocationError(_typed_hint(name, value))
    return timefmt.parse_iso(check_text(value, name, TIME_MAX_LENGTH), name)


def check_eta_at(value):
    """
    Return the machine-readable end of maintenance as ISO 8601 UTC text ("" for None).

    value
        ISO 8601 text with a zone.
    """
    if value is None or value == "":
        return ""
    return timefmt.format_iso(check_time(value, "eta_at"))


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


def check_paths(value):
    """
    Return the path prefixes of a path-scoped maintenance, without duplicates, in their
    order (``[]`` for None: the whole backends): at most 50, each starting with ``/``, at
    most 190 characters of letters, digits and ``_ . : / + = @ -``.

    value
        A list of path prefixes.
    """
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise SaltInvocationError(
            f"paths must be a list of path prefixes, not {type(value).__name__}"
        )
    if len(value) > MAX_PATHS:
        raise SaltInvocationError(f"paths lists more than {MAX_PATHS} prefixes")
    prefixes = []
    for item in value:
        if not isinstance(item, str) or not 0 < len(item) <= PATH_MAX_LENGTH:
            raise SaltInvocationError(
                f"invalid path prefix {str(item)[:PATH_MAX_LENGTH]!r}: want text such as /checkout"
                f" of at most {PATH_MAX_LENGTH} characters"
            )
        if not PATH_PATTERN.fullmatch(item):
            raise SaltInvocationError(
                f"invalid path prefix {item!r}: it starts with / and holds only letters, "
                "digits and _ . : / + = @ -"
            )
        if item not in prefixes:
            prefixes.append(item)
    return prefixes


def parse(tag, fields, default_env=None, now=None):
    """
    Check a request's fields and return ``(action, env, params)``; raise
    ``SaltInvocationError`` saying why when anything is off.

    ``params`` holds every field of the action, normalised: ``backends`` (None: all),
    ``test``; for a start also ``mode``, ``drain_timeout`` (None: the LB's default),
    ``reason``, ``eta``, ``eta_at``, ``bypass``, ``paths``, ``at`` (ISO UTC or ""), ``duration``
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
    env = names.check_env(env)
    params = {}
    if tag == names.CANCEL_TAG:
        return names.ACTIONS[tag], env, params
    params["backends"] = check_backends(fields.get("backends"))
    params["test"] = check_test(fields.get("test"))
    if tag == names.STOP_TAG:
        return names.ACTIONS[tag], env, params
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
    params["paths"] = check_paths(fields.get("paths"))
    params["at"] = ""
    if fields.get("at") is not None:
        now = now or timefmt.now()
        when = check_time(fields["at"], "at")
        if (when - now).total_seconds() > AT_MAX_AHEAD_S:
            raise SaltInvocationError("at is more than a year ahead")
        params["at"] = timefmt.format_iso(when)
    params["duration"] = None
    if fields.get("duration") is not None:
        params["duration"] = check_duration(fields["duration"])
    return names.ACTIONS[tag], env, params


# --- an LB's configuration ---------------------------------------------------------------
