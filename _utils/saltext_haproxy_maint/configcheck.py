"""
What an haproxy.cfg that another tool renders must hold for maintenance, and what each part
that it lacks costs (``haproxy_maint.check_config``, and the refusal of a request the running
HAProxy cannot honour).

The parts:

- ``sorry_backup``: the sorry server as ``backup`` in each backend to maintain; without it a
  backend cannot be put into maintenance (see :py:mod:`saltext_haproxy_maint.discovery`).
- ``admin_socket``: the runtime socket of the pillar (``haproxy:runtime:socket``) at level
  admin; without it nothing works.
- ``state_file``: ``server-state-file`` at the pillar's ``haproxy:server_state_file`` (where
  ``haproxy_maint`` dumps the servers' state) and ``load-server-state-from-file global``;
  without them a reload by another tool clears MAINT until a highstate or a minion start
  re-applies the recorded maintenance.
- ``visitor``: the visitor block (the map and ACL files of ``visitor:``); without it the
  visitors get the sorry server's answer as it is, and a bypass is refused.
- ``page_memory``: ``lua-load`` of ``visitor:lua_file`` in ``global`` (the lines of the
  ``visitor_global()`` macro); without it the page's JSON and status document are not held
  in HAProxy's memory, and the sorry server answers them.
"""

import os

from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import discovery

VISITOR_MACRO = "haproxy_maint/files/visitor.jinja"
SECTION_KEYWORDS = (
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "program",
    "http-errors",
    "ring",
    "cache",
    "mailers",
)
COSTS = {
    "sorry_backup": (
        "these backends cannot be put into maintenance: without the sorry server as backup "
        "their app servers would be left without a page"
    ),
    "admin_socket": (
        "no maintenance at all: start, stop, status and the highstate's re-apply talk to "
        "HAProxy through this socket"
    ),
    "state_file": (
        "a reload or restart by another tool clears MAINT; the page is gone until a "
        "highstate or a minion start re-applies the recorded maintenance"
    ),
    "visitor": (
        "visitors get the sorry server's answer as it is (200, cacheable, only at /) instead "
        "of a 503 with Retry-After; no JSON 503, no assets under /.maintenance/, no way back "
        "when maintenance ends, and a start with bypass is refused"
    ),
    "page_memory": (
        "the page's JSON and status document are not held in HAProxy's memory: the sorry "
        "server answers them, at its own speed, and not at all while it is down"
    ),
}


def sections(text):
    """
    The sections of an haproxy.cfg: ``[(keyword, name, [lines])]``, comments and blank lines
    left out, each line's words joined by one space.

    text
        The config's text.
    """
    result = []
    for raw in text.splitlines():
        line = " ".join(raw.split("#", 1)[0].split())
        if not line:
            continue
        words = line.split(" ")
        if not raw[:1].isspace() and words[0] in SECTION_KEYWORDS:
            result.append((words[0], words[1] if len(words) > 1 else "", []))
        elif result:
            result[-1][2].append(line)
    return result


def _state_file(cfg, parsed):
    """The ``state_file`` part from the config's text."""
    wanted = cfg["haproxy"]["server_state_file"]
    found, base, loads = None, "", False
    for keyword, _name, lines in parsed:
        for line in lines:
            words = line.split(" ")
            if keyword == "global" and words[0] == "server-state-file" and len(words) > 1:
                found = words[1]
            if keyword == "global" and words[0] == "server-state-base" and len(words) > 1:
                base = words[1]
            if keyword == "defaults" and line == "load-server-state-from-file global":
                loads = True
    if found and not found.startswith("/"):
        found = os.path.join(base, found)
    part = {"present": found == wanted and loads, "server_state_file": found or ""}
    if not part["present"]:
        part["add"] = [f"global: server-state-file {wanted}"]
        part["add"].append("defaults: load-server-state-from-file global")
    return part


def _page_memory(cfg, parsed):
    """The ``page_memory`` part from the config's text."""
    wanted = f"lua-load {cfg['visitor']['lua_file']}"
    found = any(
        line == wanted for keyword, _name, lines in parsed if keyword == "global" for line in lines
    )
    part = {"present": found}
    if not found:
        part["add"] = [f"global: {wanted} (the lines of visitor_global() in {VISITOR_MACRO})"]
    return part


def visitor_files(cfg):
    """
    The files the visitor block makes HAProxy load: the maintenance map, the bypass ACL and
    the bypass secret.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.
    """
    visitor = cfg["visitor"]
    return [visitor["map_file"], visitor["bypass_file"], visitor["bypass"]["secret_file"]]


def missing_visitor_files(cfg, loaded):
    """
    The visitor files that the running HAProxy has not loaded, in :py:func:`visitor_files`
    order.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.

    loaded
        The files of ``haproxy_runtime.list_maps`` and ``haproxy_runtime.list_acls``.
    """
    return [path for path in visitor_files(cfg) if path not in loaded]


def check_bypass(cfg, *, bypass, loaded):
    """
    Raise ``SaltInvocationError`` when a request asks for a ``bypass`` that the running
    HAProxy cannot honour: its config lacks the visitor block. The message names the files
    not loaded and the lines that load them.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.

    bypass
        The request's checked ``bypass`` (a list of CIDRs).

    loaded
        A function returning the files HAProxy loaded as maps and ACLs; called only when
        ``bypass`` lists any.
    """
    if not bypass:
        return
    visitor = cfg["visitor"]
    missing = missing_visitor_files(cfg, loaded())
    if visitor["map_file"] in missing or visitor["bypass_file"] in missing:
        raise SaltInvocationError(
            "bypass needs the visitor block, which the running HAProxy config lacks (it has "
            f"not loaded {', '.join(missing)}): the frontend needs `acl maint_bypass src -f "
            f"{visitor['bypass_file']}` and `use_backend <backend>"
            f"{visitor['bypass']['backend_suffix']} if maint_on maint_bypass`, the backend "
            f"the lines that read {visitor['map_file']}; see the macros of {VISITOR_MACRO} "
            "and haproxy_maint.check_config"
        )


def report(cfg, *, config_text, live=None, loaded=(), cli_level="", unreachable=None):
    """
    Which parts the running config has: ``{"complete": bool, "parts": {part: {"present":
    bool or None, ...}}}``; a missing part has ``add`` (the lines) and ``cost`` (what its
    absence costs), a part that could not be read (HAProxy did not answer) ``present: None``.

    cfg
        A configuration returned by :py:func:`~saltext_haproxy_maint.lbconfig.lb_config`.

    config_text
        The text of ``haproxy:config_file`` ("" when it cannot be read).

    live
        ``haproxy_runtime.server_status``, or None when HAProxy did not answer.

    loaded
        The files HAProxy loaded as maps and ACLs.

    cli_level
        The answer of ``show cli level`` on the pillar's runtime socket.

    unreachable
        Why HAProxy did not answer, or None.
    """
    socket = cfg["haproxy"]["runtime"]["socket"]
    admin = {"present": cli_level.strip() == "admin", "level": cli_level.strip()}
    if unreachable is not None:
        admin["level"] = f"unreachable: {unreachable}"
    parsed = sections(config_text)
    parts = {
        "admin_socket": admin,
        "state_file": _state_file(cfg, parsed),
        "page_memory": _page_memory(cfg, parsed),
    }
    if not admin["present"]:
        address = socket if socket.startswith("/") else f"ipv4@{socket}"
        mode = f" mode {cfg['haproxy']['runtime']['mode']}" if socket.startswith("/") else ""
        admin["add"] = [f"global: stats socket {address}{mode} level admin"]
    if live is None:
        parts["sorry_backup"] = {"present": None}
        parts["visitor"] = {"present": None}
    else:
        maintained = discovery.discovered(cfg, live)
        # Backends with app servers but no sorry backup (a stats listener has no servers).
        without = [
            name
            for name in discovery.running_backends(cfg, live)
            if not discovery.sorry_backup(cfg, live[name])
            and any(not info["backup"] for info in live[name].values())
        ]
        parts["sorry_backup"] = {"present": bool(maintained), "backends": maintained}
        parts["sorry_backup"]["without"] = without
        if without or not maintained:
            parts["sorry_backup"]["add"] = [
                f"each backend to maintain: {discovery.sorry_line(cfg)}"
            ]
        missing = missing_visitor_files(cfg, loaded)
        parts["visitor"] = {"present": not missing, "not_loaded": missing}
        if missing:
            parts["visitor"]["add"] = [f"the macros of {VISITOR_MACRO} (docs/install.md)"]
    for name, part in parts.items():
        if "add" in part:
            part["cost"] = COSTS[name]
    return {"complete": all(part["present"] for part in parts.values()), "parts": parts}
