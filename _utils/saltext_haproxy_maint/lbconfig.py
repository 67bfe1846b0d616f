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

from saltext_haproxy_maint import backends, frontends, names, request, schema

ROOT = names.CONFIG_KEY
# visitor:max_file_bytes at most: HAProxy's tune.bufsize follows the page's largest file.
MAX_FILE_BYTES_CEILING = 1048576
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# What may follow a name on an haproxy.cfg line: words of safe characters, no newline.
OPTION_RE = re.compile(r"^[A-Za-z0-9_.:/@,=+-]+( [A-Za-z0-9_.:/@,=+-]+)*$")
SIZE_RE = re.compile(r"^[0-9]+(KB|MB|GB)?$")
STICK_SIZE_RE = re.compile(r"^[0-9]+[kmg]?$")
MODE_RE = re.compile(r"^0?[0-7]{3}$")
SALT_URL_RE = re.compile(r"^(salt|https?|file)://\S+$")
MANAGERS = ("system", "supervisord")
SIGNALS = ("TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2")
BINDS = ("http", "https")
# The open page never polls its status document faster than this (MIN_POLL_S in the page's
# index.html, which falls back to its default for less): refused below it at render time.
POLL_INTERVAL_MIN = 2
# maintenance:close_sessions_after: a wait inside every start, so a short one.
GRACE_MAX = 60
MASKED_VALUE = "** masked **"
# The name a sorry server or a bind may use for the loopback address HAProxy binds.
LOCALHOST = {"localhost": "127.0.0.1"}


def _poll_interval(path, value):
    if schema.number(path, value) < POLL_INTERVAL_MIN:
        schema.fail(path, f"{value!r} is below the page's floor of {POLL_INTERVAL_MIN} seconds")
    return value


def _max_file_bytes(path, value):
    """The page's largest file sets HAProxy's buffer size for every connection: bounded."""
    if schema.positive_count(path, value) > MAX_FILE_BYTES_CEILING:
        schema.fail(
            path,
            f"{value} is above {MAX_FILE_BYTES_CEILING}: HAProxy's buffers (two per "
            "connection) would grow to match; make the page's files smaller",
        )
    return value


_BIND = schema.mapping(dict.fromkeys(BINDS, schema.bind))
_BACKEND_DEFAULTS = schema.mapping(
    {
        "sorry": schema.boolean,
        "balance": schema.text,
        "bind": _BIND,
        "check": schema.any_mapping,
        "persistence": schema.any_mapping,
        "timeouts": schema.any_mapping,
        "raw": schema.config_lines,
    }
)
_FRONTEND_DEFAULTS = schema.mapping(
    {
        "bind": _BIND,
        "routes": schema.list_of(schema.any_mapping),
        "default_backend": schema.text,
        "redirect_https": schema.one_of(frontends.REDIRECT_CODES),
        "raw": schema.config_lines,
    }
)


def _certificates(path, value):
    """More certificates for the https binds, chosen by SNI: ``{name: {pem}}`` or
    ``{name: {pem_source}}``."""
    for name, certificate in schema.mapping_of(schema.any_mapping)(path, value).items():
        key = f"{path}:{name}"
        if len(certificate) != 1 or next(iter(certificate)) not in ("pem", "pem_source"):
            schema.fail(key, "expected {pem: PEM text} or {pem_source: URL}")
        if "pem" in certificate:
            if not schema.pem(f"{key}:pem", certificate["pem"]):
                schema.fail(f"{key}:pem", "must not be empty")
        elif not schema.source(f"{key}:pem_source", certificate["pem_source"]):
            schema.fail(f"{key}:pem_source", "must not be empty")
    return value


# --- the visitor's side: bypass secret, cookie and header names ---------------------------

SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HEADER_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")


def _grace(path, value):
    """Seconds from 0 to ``GRACE_MAX`` (a wait inside a maintenance job)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= GRACE_MAX
    ):
        schema.fail(path, f"expected seconds from 0 to {GRACE_MAX}, got {value!r}")
    return value


def _nameserver(path, value):
    """A DNS server of the resolvers section: an IP address and a port."""
    host, _port = schema.split_hostport(path, value)
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        schema.fail(path, f"{value!r} is not an IP address and port (a name needs a resolver)")
    return value


def _secret(path, value):
    """The bypass secret: compared literally by HAProxy, sent in a cookie or a header, so
    only characters that are safe in all three; long enough not to be guessed."""
    if value != "" and (not isinstance(value, str) or not SECRET_RE.match(value)):
        schema.fail(
            path, f'must be "" or 16-128 of A-Z a-z 0-9 _ - (got {len(str(value))} characters)'
        )
    return value


_VISITOR = schema.mapping(
    {
        "retry_after": schema.count,
        "asset_max_age": schema.count,
        "poll_interval": _poll_interval,
        "max_file_bytes": _max_file_bytes,
        "status_file": schema.abs_path,
        "status_map_file": schema.abs_path,
        "lua_file": schema.abs_path,
        "map_file": schema.abs_path,
        "paths_map_file": schema.abs_path,
        "bypass_file": schema.abs_path,
        "bypass": schema.mapping(
            {
                "secret": _secret,
                "secret_file": schema.abs_path,
                "cookie": schema.pattern(COOKIE_RE, "a cookie name of A-Z a-z 0-9 _ -"),
                "header": schema.pattern(HEADER_RE, "a header name of A-Z a-z 0-9 -"),
                "backend_suffix": schema.pattern(SUFFIX_RE, "a name suffix of A-Z a-z 0-9 _ . : -"),
            }
        ),
    }
)


def _check_visitor(config):
    """HAProxy's Lua task reads the status document inside HAProxy's chroot; a backend may
    not be named like another one's bypass backend."""
    chroot = config["haproxy"]["chroot"].rstrip("/")
    status_file = config["visitor"]["status_file"]
    if chroot and not status_file.startswith(chroot + "/"):
        schema.fail(
            f"{ROOT}:visitor:status_file",
            f"must be inside haproxy:chroot {chroot} (HAProxy reads it after its chroot)",
        )
    suffix = config["visitor"]["bypass"]["backend_suffix"]
    for name in config["haproxy"]["backends"]:
        if name.endswith(suffix):
            schema.fail(
                f"{ROOT}:haproxy:backends:{name}",
                f"ends with {suffix!r}, the suffix of the bypass backends "
                "(visitor:bypass:backend_suffix)",
            )


SCHEMA = schema.mapping(
    {
        "env": schema.env,
        "haproxy": schema.mapping(
            {
                "manage_config": schema.boolean,
                "maintain": schema.list_of(schema.proxy_name),
                "package": schema.name,
                "binary": schema.command,
                "user": schema.name,
                "group": schema.name,
                "chroot": lambda path, value: value and schema.abs_path(path, value),
                "config_file": schema.abs_path,
                "errors_dir": schema.abs_path,
                "server_state_file": schema.abs_path,
                "maxconn": schema.count,
                "log": schema.words,
                "service": schema.mapping(
                    {
                        "manager": schema.one_of(MANAGERS),
                        "name": schema.name,
                        "program": schema.name,
                    }
                ),
                "runtime": schema.mapping(
                    {
                        "socket": schema.runtime_socket,
                        "mode": schema.socket_mode,
                        "timeout": schema.number,
                        "tcp": schema.loopback,
                    }
                ),
                "timeouts": schema.mapping_of(schema.duration),
                "retries": schema.count,
                "default_server": schema.mapping_of(schema.words),
                "resolvers": schema.mapping(
                    {
                        "enabled": schema.boolean,
                        "nameservers": schema.mapping_of(_nameserver),
                        "hold_valid": schema.duration,
                    }
                ),
                "server_options": schema.words,
                "raw": schema.mapping(
                    {"global": schema.config_lines, "defaults": schema.config_lines}
                ),
                "stick_table": schema.mapping(
                    {
                        "size": schema.pattern(STICK_SIZE_RE, "a size such as 100k or 1m"),
                        "expire": schema.duration,
                    }
                ),
                "check_defaults": backends.CHECK,
                "backend_defaults": _BACKEND_DEFAULTS,
                "backends": schema.mapping_of(lambda path, value: value),
                "frontend_defaults": _FRONTEND_DEFAULTS,
                "frontends": schema.any_mapping,
            }
        ),
        "tls": schema.mapping(
            {
                "pem": schema.pem,
                "pem_source": schema.source,
                "cert_file": schema.abs_path,
                "certificates": _certificates,
                "self_signed": schema.mapping(
                    {
                        "common_name": schema.name,
                        "days_valid": schema.count,
                        "days_remaining": schema.count,
                        "key_size": schema.count,
                    }
                ),
            }
        ),
        "page": schema.mapping(
            {
                "root": schema.abs_path,
                "source": schema.source,
                "archive": lambda path, value: (
                    value
                    and schema.mapping({"source": schema.source, "source_hash": schema.text})(
                        path, value
                    )
                ),
                "user": schema.name,
                "group": schema.name,
            }
        ),
        "sorry_server": schema.mapping(
            {
                "name": schema.proxy_name,
                "host": schema.host,
                "port": schema.port,
                "check_backend": schema.proxy_name,
                "maxconn": schema.count,
                "maxqueue": schema.count,
                "program": schema.name,
                "npm_package": schema.name,
                "version": schema.name,
                "binary": schema.command,
                "options": schema.words,
                "user": schema.name,
                "autostart": schema.boolean,
                "autorestart": schema.boolean,
                "stopsignal": schema.one_of(SIGNALS),
                "log_file": schema.abs_path,
                "log_maxbytes": schema.pattern(SIZE_RE, "a size such as 1MB"),
                "log_backups": schema.count,
            }
        ),
        "node": schema.mapping({"packages": schema.list_of(schema.name)}),
        "supervisor": schema.mapping(
            {
                "package": schema.name,
                "service": schema.name,
                "manage_service": schema.boolean,
                "conf_file": schema.abs_path,
                "programs_dir": schema.abs_path,
            }
        ),
        "maintenance": schema.mapping(
            {
                "state_file": schema.abs_path,
                "drain_timeout": schema.number,
                "not_up_wait": schema.count,
                "close_sessions_after": _grace,
            }
        ),
        "visitor": _VISITOR,
    }
)


def _binds_overlap(path, one, other):
    """Same port, and the same host (``localhost`` is 127.0.0.1) or a wildcard on either
    side."""
    host, port = schema.split_hostport(path, one)
    other_host, other_port = schema.split_hostport(path, other)
    host, other_host = (LOCALHOST.get(name, name) for name in (host, other_host))
    wildcards = ("", "*", "0.0.0.0", "[::]")
    return port == other_port and (
        host == other_host or host in wildcards or other_host in wildcards
    )


def _check_binds(path, binds, seen):
    """No two frontends listen on overlapping addresses; ``seen`` holds (key, address)."""
    for kind, address in binds.items():
        if not address:
            continue
        key = f"{path}:bind:{kind}"
        for other_key, other in seen:
            if _binds_overlap(key, address, other):
                schema.fail(key, f"{address} overlaps {other} of {other_key}")
        seen.append((key, address))


def _check_cross_keys(config):
    """Rules between keys: unique binds (the sorry server's address among them), every
    backend reachable, the sorry server's names free (its server name in every backend, its
    check backend among the backends)."""
    haproxy = config["haproxy"]
    sorry = config["sorry_server"]
    routed = frontends.routed_backends(haproxy["frontends"])
    seen = [(f"{ROOT}:sorry_server", f"{sorry['host']}:{sorry['port']}")]
    for name, backend in haproxy["backends"].items():
        path = f"{ROOT}:haproxy:backends:{name}"
        if backend["sorry"] and sorry["name"] in backend["servers"]:
            schema.fail(f"{path}:servers:{sorry['name']}", "is the sorry server's name")
        if name == sorry["check_backend"]:
            schema.fail(path, "is the name of sorry_server:check_backend")
        if name not in routed and not any(backend["bind"].values()):
            schema.fail(f"{path}:bind", "needs an http or https address, or a frontend's route")
        _check_binds(path, backend["bind"], seen)
    for name, frontend in haproxy["frontends"].items():
        path = f"{ROOT}:haproxy:frontends:{name}"
        own = haproxy["backends"].get(name)
        if own and any(own["bind"].values()):
            schema.fail(path, f"is the name of backend {name}'s own frontend (it has a bind)")
        _check_binds(path, frontend["bind"], seen)
    if haproxy["manage_config"] and haproxy["maintain"]:
        schema.fail(
            f"{ROOT}:haproxy:maintain", "is for manage_config: false; use backends:<name>:sorry"
        )
    if not haproxy["manage_config"] and (haproxy["backends"] or haproxy["frontends"]):
        schema.fail(
            f"{ROOT}:haproxy:{'backends' if haproxy['backends'] else 'frontends'}",
            "renders haproxy.cfg; with manage_config: false use maintain",
        )
    tls = config["tls"]
    if tls["pem"] and tls["pem_source"]:
        schema.fail(f"{ROOT}:tls:pem", "set pem or pem_source, not both")
    default_file = tls["cert_file"].rpartition("/")[2]
    for name in tls["certificates"]:
        if f"{name}.pem" == default_file:
            schema.fail(f"{ROOT}:tls:certificates:{name}", f"would overwrite {tls['cert_file']}")


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
    runtime socket mode open to others, a bind used twice or on the sorry server's address, a
    ``visitor:poll_interval`` below the page's floor.

    config
        The map: ``defaults.yaml`` with ``pillar['haproxy_maint']`` merged over it.
    """
    result = SCHEMA(ROOT, config)
    haproxy = result["haproxy"]
    haproxy["frontends"] = frontends.validate(haproxy)
    haproxy["backends"] = backends.validate(
        haproxy, frontends.routed_backends(haproxy["frontends"])
    )
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
        schema.fail(ROOT, f"expected a mapping, got {type(pillar).__name__}")
    return validate(merge(defaults, pillar or {}))


def maintained_backends(config):
    """
    The backends that maintenance acts on by default: those with the sorry server as their
    ``backup`` (``sorry`` after ``backend_defaults`` is merged), sorted. With
    ``manage_config: false`` the pillar names them in ``haproxy:maintain`` (``[]``: the running
    HAProxy decides, see :py:mod:`saltext_haproxy_maint.discovery`).

    config
        A configuration returned by :py:func:`lb_config`.
    """
    if not config["haproxy"]["manage_config"]:
        return sorted(config["haproxy"]["maintain"])
    return sorted(
        name for name, backend in config["haproxy"]["backends"].items() if backend["sorry"]
    )


def masked(config):
    """
    ``config`` with its secrets masked: the TLS keys (``tls:pem`` and the ``pem`` of each
    of ``tls:certificates``) and the bypass secret (``visitor:bypass:secret``), where set,
    read ``** masked **``.

    config
        A configuration returned by :py:func:`lb_config`.
    """
    tls = dict(config["tls"])
    if tls.get("pem"):
        tls["pem"] = MASKED_VALUE
    tls["certificates"] = {
        name: {**certificate, "pem": MASKED_VALUE} if "pem" in certificate else certificate
        for name, certificate in tls["certificates"].items()
    }
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
