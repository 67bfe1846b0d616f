"""
The frontends of ``haproxy:frontends``: one frontend serving several host names and paths,
routing to the backends of ``haproxy:backends`` (:py:func:`validate`).

Each frontend has its ``bind`` addresses, ordered ``routes`` (the first that matches wins;
a route's ``host``, ``path_beg`` and ``path`` must all match), a ``default_backend``,
``redirect_https`` and ``raw`` lines; ``haproxy:frontend_defaults`` is merged under each.
"""

import re

from saltext_haproxy_maint import backends, names, schema

ROOT = names.CONFIG_KEY
# An exact host name, or "*.example.com" (any name that ends with ".example.com").
ROUTE_HOST_RE = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
ROUTE_KEYS = ("backend", "host", "path_beg", "path")
MATCHES = ("host", "path_beg", "path")
REDIRECT_CODES = (False, 301, 308)
KEYS = ("bind", "routes", "default_backend", "redirect_https", "raw")


def _route_host(path, value):
    if not isinstance(value, str) or not ROUTE_HOST_RE.match(value):
        schema.fail(path, f"{value!r} is not a host name or *.domain (no spaces)")
    return value.lower()


def _route(path, value, declared):
    """One route: a declared ``backend`` and at least one of ``host``, ``path_beg``,
    ``path``; returns it with every match key ("" when not set)."""
    for key in schema.any_mapping(path, value):
        if key not in ROUTE_KEYS:
            schema.fail(f"{path}:{key}", f"unknown key (a route takes {', '.join(ROUTE_KEYS)})")
    route = {"backend": _backend_ref(f"{path}:backend", value.get("backend"), declared)}
    if not any(key in value for key in MATCHES):
        schema.fail(path, f"needs one of {', '.join(MATCHES)}")
    route["host"] = _route_host(f"{path}:host", value["host"]) if "host" in value else ""
    for key in ("path_beg", "path"):
        route[key] = backends.url_path(f"{path}:{key}", value[key]) if key in value else ""
    return route


def _backend_ref(path, value, declared):
    if value is None:
        schema.fail(path, "missing")
    if schema.proxy_name(path, value) not in declared:
        schema.fail(path, f"{value!r} is not a backend of haproxy:backends")
    return value


def _routes(path, value, declared):
    if not isinstance(value, list):
        schema.fail(path, f"expected a list, got {type(value).__name__}")
    routes = []
    for index, item in enumerate(value):
        route = _route(f"{path}:{index}", item, declared)
        for earlier, other in enumerate(routes):
            if all(route[key] == other[key] for key in MATCHES):
                schema.fail(
                    f"{path}:{index}",
                    f"matches the same requests as route {earlier}, which always wins",
                )
        routes.append(route)
    return routes


def _frontend(path, frontend, defaults, declared):
    schema.any_mapping(path, frontend)
    merged = {**defaults, **frontend}
    merged["bind"] = {**defaults["bind"], **(frontend.get("bind") or {})}
    for key in merged:
        if key not in KEYS:
            schema.fail(f"{path}:{key}", "unknown key")
    checked = {
        "bind": schema.mapping(dict.fromkeys(backends.BINDS, schema.bind))(
            f"{path}:bind", merged["bind"]
        ),
        "routes": _routes(f"{path}:routes", merged["routes"], declared),
        "default_backend": merged["default_backend"]
        and _backend_ref(f"{path}:default_backend", merged["default_backend"], declared),
        "redirect_https": schema.one_of(REDIRECT_CODES)(
            f"{path}:redirect_https", merged["redirect_https"]
        ),
        "raw": schema.config_lines(f"{path}:raw", merged["raw"]),
    }
    if not any(checked["bind"].values()):
        schema.fail(f"{path}:bind", "needs an http or https address")
    if not checked["routes"] and not checked["default_backend"]:
        schema.fail(path, "needs routes or a default_backend")
    if checked["redirect_https"] and not checked["bind"]["https"]:
        schema.fail(f"{path}:redirect_https", "needs an https bind to redirect to")
    return checked


def validate(haproxy):
    """
    Return ``haproxy:frontends`` checked, each completed with ``frontend_defaults``: its
    ``routes`` as ``{backend, host, path_beg, path}`` ("" where a route does not match on
    it; hosts in lower case).

    haproxy
        The ``haproxy`` map (``frontend_defaults``, ``frontends``, and ``backends``, whose
        names the routes may use).
    """
    declared = set(haproxy["backends"])
    return {
        name: _frontend(
            f"{ROOT}:haproxy:frontends:{name}", frontend, haproxy["frontend_defaults"], declared
        )
        for name, frontend in schema.mapping_of(lambda path, value: value)(
            f"{ROOT}:haproxy:frontends", haproxy["frontends"]
        ).items()
    }


def routed_backends(frontends):
    """
    The names of the backends some frontend routes to (a route or ``default_backend``).

    frontends
        The frontends :py:func:`validate` returned.
    """
    return {
        name
        for frontend in frontends.values()
        for name in [route["backend"] for route in frontend["routes"]]
        + [frontend["default_backend"]]
        if name
    }
