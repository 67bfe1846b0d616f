"""
An LB's configuration: ``pillar['haproxy_maint']`` merged over the state tree's
``defaults.yaml``, validated (:py:func:`lb_config`).

A bad key is named with its whole path (``haproxy_maint:haproxy:backends:app:servers:app1``);
every backend is completed with ``haproxy:backend_defaults``; :py:func:`maintained_backends`
says which backends have the sorry server. Read by the state tree (``map.jinja``, through
``haproxy_pillar.lb_config``), by the LB's ``haproxy_maint`` module and by the master's
runner, so all three see the same configuration.
"""

import ipaddress
import re

from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import names, request, timefmt

ROOT = names.CONFIG_KEY
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# What may follow a name on an haproxy.cfg line: words of safe characters, no newline.
OPTION_RE = re.compile(r"^[A-Za-z0-9_.:/@,=+-]+( [A-Za-z0-9_.:/@,=+-]+)*$")
SIZE_RE = re.compile(r"^[0-9]+(KB|MB|GB)?$")
MODE_RE = re.compile(r"^0?[0-7]{3}$")
SALT_URL_RE = re.compile(r"^(salt|https?|file)://\S+$")
MANAGERS = ("system", "supervisord")
SIGNALS = ("TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2")
# maintenance:close_sessions_after: a wait inside every start, so a short one.
GRACE_MAX = 60
BINDS = ("http", "https")
MASKED_VALUE = "** masked **"


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
        return names.check_name(value, "proxy or server")
    except SaltInvocationError as err:
        _fail(path, str(err))


def _name(path, value):
    """A word of the config (a package, a user, a program): the one name rule."""
    if not isinstance(value, str) or not names.NAME_PATTERN.fullmatch(value):
        _fail(path, f"{value!r} is not a name matching {names.NAME_PATTERN.pattern}")
    return value


def _env(path, value):
    """The LB's environment: the request's env rule, so that every env can be targeted."""
    if value == "":
        return value
    try:
        return names.check_env(value)
    except SaltInvocationError as err:
        _fail(path, str(err))


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


def _grace(path, value):
    """Seconds from 0 to ``GRACE_MAX`` (a wait inside a maintenance job)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= GRACE_MAX
    ):
        _fail(path, f"expected seconds from 0 to {GRACE_MAX}, got {value!r}")
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


def _duration(path, value):
    if not timefmt.is_haproxy_duration(value):
        _fail(path, f"{value!r} is not a duration such as 500ms, 10s or 1m")
    return value


_BIND = _dict(dict.fromkeys(BINDS, _bind))
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


def _check_visitor(config):
    """A backend may not be named like another one's bypass backend."""
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
            {
                "state_file": _abs_path,
                "drain_timeout": _number,
                "not_up_wait": _count,
                "close_sessions_after": _grace,
            }
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


def masked(config):
    """
    ``config`` with its secrets masked: the TLS key (``tls:pem``) and the bypass secret
    (``visitor:bypass:secret``), where set, read ``** masked **``.

    config
        A configuration returned by :py:func:`lb_config`.
    """
    tls = dict(config["tls"])
    if tls.get("pem"):
        tls["pem"] = MASKED_VALUE
    bypass = dict(config["visitor"]["bypass"])
    if bypass.get("secret"):
        bypass["secret"] = MASKED_VALUE
    return {**config, "tls": tls, "visitor": {**config["visitor"], "bypass": bypass}}


def requested_backends(config, backends):
    """
    The backends a request for this LB names, checked: absent (None) means every maintained
    backend; anything else must be a non-empty list of backends that this LB's pillar
    declares with a sorry server. Raises ``SaltInvocationError`` naming a bad one.

    config
        A configuration returned by :py:func:`lb_config`.

    backends
        The request's ``backends``.
    """
    declared = maintained_backends(config)
    wanted = request.check_backends(backends, (config["sorry_server"]["name"],))
    if wanted is None:
        return declared
    for name in wanted:
        if name not in declared:
            raise SaltInvocationError(
                f"unknown backend {name!r}: this LB maintains {', '.join(declared) or 'none'}"
            )
    return wanted
