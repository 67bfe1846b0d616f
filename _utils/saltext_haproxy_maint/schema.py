"""
The building blocks of a pillar schema: checks of one value (``check(path, value)`` returns
the value or raises ``SaltInvocationError`` saying ``pillar key <path>: <problem>``) and the
combinators that build a mapping's check from its keys' (:py:func:`mapping`,
:py:func:`mapping_of`, :py:func:`list_of`). :py:mod:`saltext_haproxy_maint.lbconfig` builds
the LB's configuration from them, with :py:mod:`saltext_haproxy_maint.backends` and
:py:mod:`saltext_haproxy_maint.frontends` (a site's backends and routes).
"""

import ipaddress
import re

from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import names, timefmt

HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# What may follow a name on an haproxy.cfg line: words of safe characters, no newline.
OPTION_RE = re.compile(r"^[A-Za-z0-9_.:/@,=+-]+( [A-Za-z0-9_.:/@,=+-]+)*$")
MODE_RE = re.compile(r"^0?[0-7]{3}$")
SALT_URL_RE = re.compile(r"^(salt|https?|file)://\S+$")


def fail(path, problem):
    raise SaltInvocationError(f"pillar key {path}: {problem}")


def text(path, value):
    if not isinstance(value, str):
        fail(path, f"expected a string, got {type(value).__name__}")
    if "\n" in value or "\r" in value:
        fail(path, "must be a single line")
    return value


def pem(path, value):
    if not isinstance(value, str):
        fail(path, f"expected PEM text, got {type(value).__name__}")
    if value and "-----BEGIN " not in value:
        fail(path, "is not PEM text")
    return value


def proxy_name(path, value):
    """A backend or server name: the runtime API's one name rule."""
    try:
        return names.check_name(value, "proxy or server")
    except SaltInvocationError as err:
        fail(path, str(err))


def name(path, value):
    """A word of the config (a package, a user, a program): the one name rule."""
    if not isinstance(value, str) or not names.NAME_PATTERN.fullmatch(value):
        fail(path, f"{value!r} is not a name matching {names.NAME_PATTERN.pattern}")
    return value


def env(path, value):
    """The LB's environment: the request's env rule, so that every env can be targeted."""
    if value == "":
        return value
    try:
        return names.check_env(value)
    except SaltInvocationError as err:
        fail(path, str(err))


def words(path, value):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not OPTION_RE.match(text(path, value)):
        fail(path, f"{value!r} is not a list of plain words")
    return value


def boolean(path, value):
    if not isinstance(value, bool):
        fail(path, f"expected true or false, got {value!r}")
    return value


def number(path, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        fail(path, f"expected a positive number, got {value!r}")
    return value


def count(path, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        fail(path, f"expected a whole number >= 0, got {value!r}")
    return value


def positive_count(path, value):
    if count(path, value) == 0:
        fail(path, "expected a whole number > 0, got 0")
    return value


def port(path, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        fail(path, f"expected a port 1-65535, got {value!r}")
    return value


def pattern(regex, what):
    def check(path, value):
        if not isinstance(value, (str, int)) or not regex.match(str(value)):
            fail(path, f"{value!r} is not {what}")
        return value

    return check


def one_of(choices):
    def check(path, value):
        if value not in choices:
            fail(path, f"{value!r} is not one of {', '.join(str(c) for c in choices)}")
        return value

    return check


def abs_path(path, value):
    if not text(path, value).startswith("/") or " " in value:
        fail(path, f"{value!r} is not an absolute path without spaces")
    return value


def command(path, value):
    """A program: an absolute path, or a bare name looked up in PATH."""
    if "/" in text(path, value):
        return abs_path(path, value)
    return name(path, value)


def source(path, value):
    if value and not SALT_URL_RE.match(text(path, value)):
        fail(path, f"{value!r} is not a salt://, http(s):// or file:// URL")
    return value


def host(path, value):
    """An IPv4 address, a bracketed IPv6 address or a host name."""
    if value.startswith("[") and value.endswith("]"):
        try:
            ipaddress.IPv6Address(value[1:-1])
        except ValueError:
            fail(path, f"{value!r} is not an IPv6 address")
        return value
    if not HOSTNAME_RE.match(value):
        fail(path, f"{value!r} is not a host name or address")
    return value


def split_hostport(path, value):
    """
    Split ``host:port`` (IPv6 in brackets) into ``(host, port)``; ``path`` is the pillar key
    named in the error message.
    """
    if not isinstance(value, str) or ":" not in value:
        fail(path, f"{value!r} is not host:port")
    address, _, number = value.rpartition(":")
    if not number.isdigit():
        fail(path, f"{value!r} has no numeric port")
    port(path, int(number))
    return address, int(number)


def server(path, value):
    address, _ = split_hostport(path, value)
    host(path, address)
    return value


def bind(path, value):
    """A listening address: host:port, ``*:port`` or ``:port``; "" disables it."""
    if value == "":
        return value
    address, _ = split_hostport(path, value)
    if address not in ("", "*"):
        host(path, address)
    return value


def is_loopback(host):
    """Tell whether ``host`` is an address in 127.0.0.0/8 or ``::1`` (bracketed or not)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback(path, value):
    """The TCP runtime socket: anyone who reaches it can stop every server."""
    if value == "":
        return value
    host, _ = split_hostport(path, value)
    if not is_loopback(host):
        fail(path, f"{value!r}: a TCP runtime socket must bind 127.0.0.0/8 or ::1")
    return value


def runtime_socket(path, value):
    """The admin socket the states and haproxy_runtime use: a unix path or loopback host:port."""
    if isinstance(value, str) and value.startswith("/"):
        return abs_path(path, value)
    if value == "":
        fail(path, "must not be empty")
    return loopback(path, value)


def socket_mode(path, value):
    """The unix runtime socket is admin level: nothing for others (600 or 660)."""
    if not isinstance(value, (str, int)) or not MODE_RE.match(str(value)):
        fail(path, f"{value!r} is not an octal mode such as 600 or 660")
    if str(value)[-1] != "0":
        fail(path, f"{value!r} gives others access to the admin socket; use 600 or 660")
    return value


def list_of(check):
    def check_list(path, value):
        if not isinstance(value, list):
            fail(path, f"expected a list, got {type(value).__name__}")
        return [check(f"{path}:{index}", item) for index, item in enumerate(value)]

    return check_list


def mapping_of(check, allow_empty=True):
    def check_mapping(path, value):
        if not isinstance(value, dict):
            fail(path, f"expected a mapping, got {type(value).__name__}")
        if not value and not allow_empty:
            fail(path, "must not be empty")
        return {
            proxy_name(f"{path}:{key}", key): check(f"{path}:{key}", item)
            for key, item in value.items()
        }

    return check_mapping


def mapping(schema):
    def check_dict(path, value):
        if not isinstance(value, dict):
            fail(path, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in schema:
                fail(f"{path}:{key}", "unknown key")
        for key in schema:
            if key not in value or value[key] is None:
                fail(f"{path}:{key}", "missing")
        return {key: check(f"{path}:{key}", value[key]) for key, check in schema.items()}

    return check_dict


def duration(path, value):
    if not timefmt.is_haproxy_duration(value):
        fail(path, f"{value!r} is not a duration such as 500ms, 10s or 1m")
    return value


def any_mapping(path, value):
    """Any mapping (its keys are checked by the caller)."""
    if not isinstance(value, dict):
        fail(path, f"expected a mapping, got {type(value).__name__}")
    return value


# Words that open a section of haproxy.cfg: a raw line must not start one.
SECTION_KEYWORDS = (
    "backend",
    "cache",
    "crt-store",
    "defaults",
    "frontend",
    "global",
    "http-errors",
    "listen",
    "log-forward",
    "mailers",
    "peers",
    "program",
    "resolvers",
    "ring",
    "userlist",
)
CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def config_line(path, value):
    """One raw haproxy.cfg line (the escape hatch): a single line that opens no section.
    What it says is HAProxy's to check (``haproxy -c`` before the config is replaced)."""
    if CONTROL_RE.search(text(path, value)):
        fail(path, f"{value!r} holds a control character")
    first = value.split()[0].lower() if value.split() else ""
    if first in SECTION_KEYWORDS:
        fail(path, f"{value!r} opens a section ({first}); a raw line goes inside its own")
    return value


config_lines = list_of(config_line)
