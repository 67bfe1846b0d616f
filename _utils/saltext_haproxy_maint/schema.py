"""
The pillar checkers an LB's configuration is built from: each takes the key's path
(``haproxy_maint:haproxy:backends:app``) and the value, returns the value (completed) and
raises ``SaltInvocationError`` naming the path when the value is bad. Shared by
:py:mod:`~saltext_haproxy_maint.lbconfig` (the whole map), and
:py:mod:`~saltext_haproxy_maint.backends` and :py:mod:`~saltext_haproxy_maint.frontends`
(what a site routes and how each backend behaves).
"""

import ipaddress
import re

from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import names, timefmt

HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# What may follow a name on an haproxy.cfg line: words of safe characters, no newline.
OPTION_RE = re.compile(r"^[A-Za-z0-9_.:/@,=+-]+( [A-Za-z0-9_.:/@,=+-]+)*$")
SALT_URL_RE = re.compile(r"^(salt|https?|file)://\S+$")


def fail(path, problem):
    """Raise the one error of a bad pillar key: ``pillar key <path>: <problem>``."""
    raise SaltInvocationError(f"pillar key {path}: {problem}")


def text(path, value):
    if not isinstance(value, str):
        fail(path, f"expected a string, got {type(value).__name__}")
    if "\n" in value or "\r" in value:
        fail(path, "must be a single line")
    return value


def proxy_name(path, value):
    """A backend, frontend or server name: the runtime API's one name rule."""
    try:
        return names.check_name(value, "proxy or server")
    except SaltInvocationError as err:
        fail(path, str(err))


def name(path, value):
    """A word of the config (a package, a user, a program): the one name rule."""
    if not isinstance(value, str) or not names.NAME_PATTERN.fullmatch(value):
        fail(path, f"{value!r} is not a name matching {names.NAME_PATTERN.pattern}")
    return value


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


def port(path, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        fail(path, f"expected a port 1-65535, got {value!r}")
    return value


def pattern(regex, what):
    """A checker of strings (or numbers) that ``regex`` matches; ``what`` names the form."""

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


def source(path, value):
    if value and not SALT_URL_RE.match(text(path, value)):
        fail(path, f"{value!r} is not a salt://, http(s):// or file:// URL")
    return value


def pem(path, value):
    if not isinstance(value, str):
        fail(path, f"expected PEM text, got {type(value).__name__}")
    if value and "-----BEGIN " not in value:
        fail(path, "is not PEM text")
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
    host_part, _, port_part = value.rpartition(":")
    if not port_part.isdigit():
        fail(path, f"{value!r} has no numeric port")
    port(path, int(port_part))
    return host_part, int(port_part)


def server(path, value):
    """An app server's ``host:port``."""
    host_part, _ = split_hostport(path, value)
    host(path, host_part)
    return value


def bind(path, value):
    """A listening address: host:port, ``*:port`` or ``:port``; "" disables it."""
    if value == "":
        return value
    host_part, _ = split_hostport(path, value)
    if host_part not in ("", "*"):
        host(path, host_part)
    return value


def duration(path, value):
    if not timefmt.is_haproxy_duration(value):
        fail(path, f"{value!r} is not a duration such as 500ms, 10s or 1m")
    return value


def list_of(check):
    def check_list(path, value):
        if not isinstance(value, list):
            fail(path, f"expected a list, got {type(value).__name__}")
        return [check(f"{path}:{index}", item) for index, item in enumerate(value)]

    return check_list


def mapping_of(check, allow_empty=True):
    """A mapping whose keys follow the one name rule and whose values ``check`` accepts."""

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


def dict_of(schema):
    """A mapping with exactly the keys of ``schema`` ({key: checker}), none of them null."""

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


def mapping(path, value):
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
