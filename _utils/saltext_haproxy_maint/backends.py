"""
How each backend of ``haproxy:backends`` behaves: its servers (an address, or an address
with per-server options), its health check, persistence, balance, timeouts and raw lines,
completed with ``haproxy:backend_defaults`` (:py:func:`validate`).

A backend reached through a frontend of ``haproxy:frontends`` (see
:py:mod:`~saltext_haproxy_maint.frontends`) and without a ``bind`` of its own gets no
frontend of its own; every other backend gets the ``bind`` of ``backend_defaults``, as before
frontends existed.
"""

import re

from saltext_haproxy_maint import names, schema

ROOT = names.CONFIG_KEY
BINDS = ("http", "https")
NO_BIND = dict.fromkeys(BINDS, "")
# "roundrobin", "uri whole", "hdr(host)", "url_param userid check_post", "random(2)".
BALANCE_RE = re.compile(r"^[a-z][a-z_-]*(\([A-Za-z0-9_.-]+\))?( [A-Za-z0-9_.=-]+)*$")
# What a health check or a route may hold of a URL: no space, quote, backslash or #.
URL_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*$")
STATUS_RE = re.compile(r"^[1-5][0-9][0-9](-[1-5][0-9][0-9])?$")
COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CHECK_METHODS = ("GET", "HEAD", "OPTIONS", "POST")
# Backend timeouts by their pillar name ("_" becomes "-" in haproxy.cfg).
TIMEOUTS = (
    "check",
    "connect",
    "http_keep_alive",
    "http_request",
    "queue",
    "server",
    "tarpit",
    "tunnel",
)
VERIFY = ("none", "required")
STICK_SOURCES = ("src",)
MAX_WEIGHT = 256


def url_path(path, value):
    """A URL path as HAProxy reads it on a config line: starts with "/", one word."""
    if not isinstance(value, str) or not URL_PATH_RE.match(value):
        schema.fail(path, f"{value!r} is not a path that starts with / (no spaces or quotes)")
    return value


def check_host(path, value):
    """A Host header for a health check: "" (none) or a host name."""
    return value if value == "" else schema.host(path, schema.text(path, value))


CHECK = schema.mapping(
    {
        "method": schema.one_of(CHECK_METHODS),
        "path": url_path,
        "host": check_host,
        "status": schema.pattern(STATUS_RE, "an HTTP status such as 200, or a range 200-399"),
    }
)


def _check(path, value, defaults):
    """A backend's health check: {} (HAProxy's connect check) or ``check_defaults`` merged
    under what the backend sets."""
    if schema.any_mapping(path, value) == {}:
        return {}
    return CHECK(path, {**defaults, **value})


def _persistence(path, value):
    """{} (none), ``{cookie: NAME}`` or ``{stick: src}``."""
    if schema.any_mapping(path, value) == {}:
        return {}
    if len(value) != 1 or next(iter(value)) not in ("cookie", "stick"):
        schema.fail(path, "expected {cookie: NAME} or {stick: src}")
    if "cookie" in value:
        schema.pattern(COOKIE_RE, "a cookie name of A-Z a-z 0-9 _ -")(
            f"{path}:cookie", value["cookie"]
        )
    else:
        schema.one_of(STICK_SOURCES)(f"{path}:stick", value["stick"])
    return dict(value)


def _timeouts(path, value):
    for key in schema.any_mapping(path, value):
        schema.one_of(TIMEOUTS)(f"{path}:{key}", key)
        schema.duration(f"{path}:{key}", value[key])
    return dict(value)


def _weight(path, value):
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WEIGHT:
        schema.fail(path, f"expected a weight 0-{MAX_WEIGHT}, got {value!r}")
    return value


def _ssl(path, value):
    """None (plain HTTP), or TLS to the server: ``{verify: none}`` or ``{verify: required,
    ca_file: ...}`` (default ``@system-ca``, the system's trusted CAs)."""
    if value is None:
        return value
    settings = {"ca_file": "@system-ca", **schema.any_mapping(path, value)}
    checked = schema.mapping({"verify": schema.one_of(VERIFY), "ca_file": schema.text})(
        path, settings
    )
    if checked["ca_file"] != "@system-ca":
        schema.abs_path(f"{path}:ca_file", checked["ca_file"])
    return checked


SERVER_KEYS = ("address", "weight", "ssl", "check")


def _server(path, value):
    """An app server: ``host:port``, or ``{address, weight, ssl, check}``; returns ``(address,
    settings)``."""
    if isinstance(value, str):
        return schema.server(path, value), {"weight": None, "ssl": None, "check": True}
    for key in schema.any_mapping(path, value):
        if key not in SERVER_KEYS:
            schema.fail(f"{path}:{key}", "unknown key")
    if "address" not in value:
        schema.fail(f"{path}:address", "missing")
    return schema.server(f"{path}:address", value["address"]), {
        "weight": _weight(f"{path}:weight", value.get("weight")),
        "ssl": _ssl(f"{path}:ssl", value.get("ssl")),
        "check": schema.boolean(f"{path}:check", value.get("check", True)),
    }


def _servers(path, value):
    """``servers`` as ``{name: address}`` and ``server_settings`` as ``{name: settings}``."""
    checked = schema.mapping_of(_server, allow_empty=False)(path, value)
    return (
        {name: address for name, (address, _) in checked.items()},
        {name: settings for name, (_, settings) in checked.items()},
    )


_BIND = schema.mapping(dict.fromkeys(BINDS, schema.bind))
KEYS = ("servers", "sorry", "balance", "bind", "check", "persistence", "timeouts", "raw")


def _backend(path, backend, haproxy):
    """One backend, ``backend_defaults`` merged under it (one level of ``bind``)."""
    defaults = haproxy["backend_defaults"]
    merged = {**defaults, **backend}
    merged["bind"] = {**defaults["bind"], **(backend.get("bind") or {})}
    for key in merged:
        if key not in KEYS:
            schema.fail(f"{path}:{key}", "unknown key")
    if "servers" not in merged:
        schema.fail(f"{path}:servers", "missing")
    servers, settings = _servers(f"{path}:servers", merged["servers"])
    return {
        "servers": servers,
        "server_settings": settings,
        "sorry": schema.boolean(f"{path}:sorry", merged["sorry"]),
        "balance": schema.pattern(BALANCE_RE, "a balance algorithm with its arguments")(
            f"{path}:balance", merged["balance"]
        ),
        "bind": _BIND(f"{path}:bind", merged["bind"]),
        "check": _check(f"{path}:check", merged["check"], haproxy["check_defaults"]),
        "persistence": _persistence(f"{path}:persistence", merged["persistence"]),
        "timeouts": _timeouts(f"{path}:timeouts", merged["timeouts"]),
        "raw": schema.config_lines(f"{path}:raw", merged["raw"]),
    }


def validate(haproxy, routed):
    """
    Return ``haproxy:backends`` checked and completed: each backend with
    ``backend_defaults`` merged under it, ``servers`` as ``{name: host:port}`` and
    ``server_settings`` as ``{name: {weight, ssl, check}}`` (``weight`` and ``ssl`` None
    when not set). A backend in ``routed`` whose pillar sets no ``bind`` gets none.

    haproxy
        The checked ``haproxy`` map (``backend_defaults``, ``check_defaults``, ``backends``).

    routed
        The names of the backends that a frontend routes to.
    """
    backends = {}
    for name, backend in haproxy["backends"].items():
        path = f"{ROOT}:haproxy:backends:{name}"
        schema.any_mapping(path, backend)
        if name in routed and "bind" not in backend:
            backend = {**backend, "bind": NO_BIND}
        backends[name] = _backend(path, backend, haproxy)
    return backends
