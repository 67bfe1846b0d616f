"""
The LB's record of desired maintenance (``maintenance:state_file``, JSON), and what follows
from it: the servers a start moves, the page's status document, the visitor map's entries,
the outcome a start or stop returns.

A record is::

    {"active": bool, "backends": [names], "changed": {backend: [servers start moved]},
     "paths": {backend: [path prefixes]}, "mode", "reason", "eta", "eta_at",
     "bypass": [CIDRs], "stamp", "updated"}

``backends`` are in maintenance as a whole (their servers in MAINT); ``paths`` holds the
backends in path-scoped maintenance (servers READY, only requests under a prefix get the
page). A backend in both is in maintenance as a whole until a stop ends both.
"""

import copy
import json
import os
import time

from salt.exceptions import CommandExecutionError

from saltext_haproxy_maint import discovery, files, timefmt

PAGE_STATUS_FILE = "maintenance.json"
# The status map's key (haproxy_maint/files/status.lua.jinja) and how long a start or stop
# waits for HAProxy's Lua task to hold a new status document (seconds).
STATUS_KEY = "status"
STATUS_HELD_WAIT = 1.0
STATUS_HELD_POLL = 0.01
# The page's assets and status document (haproxy.cfg.jinja's ASSET_PREFIX): maintained with
# the paths of a path-scoped maintenance, so that the page finds them.
ASSET_PREFIX = "/.maintenance/"
# What `show stat` says of a server that is up (with health checks, or without).
UP_STATUSES = ("UP", "no check")
# srv_admin_state bits (runtime.ADMIN_FLAGS). Only the forced ones are anybody's decision:
# FDRAIN is an operator's unless this product's record lists the server; FMAINT is ours or
# an operator's. The others are HAProxy's own reasons.
FORCED_DRAIN = "FDRAIN"
NO_ADDRESS = "RMAINT"
# Why a server is out of service when no one forced it (status report).
NOT_FORCED_WHY = {
    "RMAINT": "no address: {fqdn} did not resolve",
    "CMAINT": "disabled in haproxy.cfg",
    "IMAINT": "tracks a server in MAINT",
    "HMAINT": "its host name was changed at run time",
}


def read(cfg):
    """
    The LB's record (``{"active": False, "backends": [], "changed": {}}`` when none).

    cfg
        The LB's configuration (:py:func:`saltext_haproxy_maint.lbconfig.lb_config`).
    """
    record = files.read_json(cfg["maintenance"]["state_file"], default=None)
    if record is None:
        return {"active": False, "backends": [], "changed": {}}
    record.setdefault("backends", [])
    record.setdefault("changed", {})
    return record


def write(cfg, record):
    """
    Write the record, durably, readable by root only.

    cfg
        The LB's configuration.

    record
        The record.
    """
    files.write_json(cfg["maintenance"]["state_file"], record, mode=0o600)


def locked(cfg):
    """
    Serialise start/stop/reapply on this LB (each job runs in its own process).

    cfg
        The LB's configuration.
    """
    return files.locked(cfg["maintenance"]["state_file"] + ".lock")


def superseded(record, stamp):
    """
    True when the record was written for a request newer than ``stamp``.

    record
        The record.

    stamp
        The request's stamp, or None.
    """
    return bool(stamp and record.get("stamp") and str(stamp) < str(record["stamp"]))


def page_status_text(cfg, record):
    """
    The page's status document for the record, as one line of ASCII JSON (no line break:
    HAProxy's log-format answer would escape one).

    cfg
        The LB's configuration.

    record
        The record.
    """
    status = {
        # Whoever reads this document through HAProxy is being served the page.
        "maintenance": True,
        "active": bool(record.get("active")),
        "reason": record.get("reason") or "",
        "eta": record.get("eta") or "",
        "eta_at": record.get("eta_at") or "",
        "poll_s": cfg["visitor"]["poll_interval"],
    }
    return json.dumps(status, sort_keys=True, separators=(",", ":"))


def write_page_status(cfg, record):
    """
    Write the page's status document: text only; the page sets it with textContent, never as
    HTML. Written twice: ``visitor:status_file``, which HAProxy's Lua task reads into its
    memory every 50 ms (the visitor's rules answer the JSON and the status document from
    there), and ``maintenance.json`` in ``page:root`` (the sorry server's copy).

    cfg
        The LB's configuration.

    record
        The record.
    """
    text = page_status_text(cfg, record) + "\n"
    # Rewritten by every start/stop; it need not survive a power cut.
    files.write_text(cfg["visitor"]["status_file"], text, durable=False)
    files.write_text(os.path.join(cfg["page"]["root"], PAGE_STATUS_FILE), text, durable=False)


def wait_status_held(read_held, expected, wait=STATUS_HELD_WAIT, poll_interval=STATUS_HELD_POLL):
    """
    Wait (bounded) until HAProxy holds the status document ``expected`` (its Lua task reads
    ``visitor:status_file`` every 50 ms), so that the first visitor who gets the page gets
    its reason too. Return whether it did within ``wait``; None at once when HAProxy holds
    no status document at all (a config of your own without the Lua task).

    read_held
        A function that returns the document HAProxy holds, or None.

    expected
        :py:func:`page_status_text` of the record just written.

    wait, poll_interval
        Seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        held = read_held()
        if held is None:
            return None
        if held == expected:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_interval)


def visitor_entries(record):
    """
    What HAProxy's maintenance map and bypass ACL hold for the record: ``({backend: ETA
    epoch seconds as text}, [CIDRs])``, both empty with maintenance off.

    record
        The record.
    """
    if not record.get("active"):
        return {}, []
    epoch = str(timefmt.epoch(record.get("eta_at")))
    return dict.fromkeys(record["backends"], epoch), list(record.get("bypass") or [])


def path_entries(record):
    """
    What HAProxy's paths map holds for the record: ``{"<backend><prefix>": ETA epoch seconds
    as text}`` for every path-scoped backend's prefixes and its asset prefix; empty with
    maintenance off.

    record
        The record.
    """
    if not record.get("active"):
        return {}
    epoch = str(timefmt.epoch(record.get("eta_at")))
    return {
        f"{backend}{prefix}": epoch
        for backend, prefixes in (record.get("paths") or {}).items()
        for prefix in [*prefixes, ASSET_PREFIX]
    }


def in_maintenance(record):
    """
    Every backend in maintenance, as a whole or path-scoped, sorted.

    record
        The record.
    """
    if not record.get("active"):
        return []
    return sorted(set(record["backends"]) | set(record.get("paths") or {}))


def record_start(record, *, backends, paths, fields, changed, stamp):
    """
    Update ``record`` for a start: ``backends`` as a whole (no ``paths``) or path-scoped
    under ``paths`` (a backend already in maintenance as a whole stays so); ``fields`` (mode,
    reason, eta, eta_at, bypass) replace the recorded ones; ``changed`` joins the servers
    earlier starts moved.

    record
        The record, changed in place.

    backends, paths
        The start's backends and path prefixes.

    fields
        ``{mode, reason, eta, eta_at, bypass}``.

    changed
        ``{backend: [servers]}`` the start moves.

    stamp
        The request's stamp, or None.
    """
    was_active = record.get("active")
    whole = set(record["backends"] if was_active else [])
    scoped = dict(record.get("paths") or {}) if was_active else {}
    if paths:
        for backend in backends:
            if backend not in whole:
                scoped[backend] = sorted(set(scoped.get(backend, [])) | set(paths))
    else:
        whole |= set(backends)
    record.update(fields)
    record.update(
        active=True,
        backends=sorted(whole),
        paths=scoped,
        stamp=str(stamp) if stamp else record.get("stamp"),
        updated=time.time(),
    )
    for backend, servers in changed.items():
        record["changed"][backend] = sorted(set(record["changed"].get(backend, [])) | set(servers))


def _scope(record):
    if not record.get("active"):
        return [], {}
    return sorted(record["backends"]), record.get("paths") or {}


def start_state(record, *, backends, paths, changed, test):
    """
    The state a start reports: ``changed`` (``would change`` for a dry run) when it moves
    servers or widens the maintenance (a backend or a path prefix more), else ``already in
    maintenance``.

    record
        The record before the start.

    backends, paths, changed
        As for :py:func:`record_start`.

    test
        True for a dry run.
    """
    after = copy.deepcopy(record)
    record_start(after, backends=backends, paths=paths, fields={}, changed=changed, stamp=None)
    if not changed and _scope(after) == _scope(record):
        return "already in maintenance"
    return "would change" if test else "changed"


def record_stop(record, *, ending, stamp):
    """
    Update ``record`` for a stop of the backends ``ending``: their maintenance ends, whole
    and path-scoped; with none left, maintenance is off.

    record
        The record, changed in place.

    ending
        The backends whose maintenance ends.

    stamp
        The request's stamp, or None.
    """
    for backend in ending:
        record["changed"].pop(backend, None)
    record["backends"] = [name for name in record["backends"] if name not in ending]
    record["paths"] = {
        backend: prefixes
        for backend, prefixes in (record.get("paths") or {}).items()
        if backend not in ending
    }
    record["active"] = bool(record["backends"] or record["paths"])
    if not record["active"]:
        record.update(reason="", eta="", eta_at="", mode="", bypass=[])
    if stamp:
        record["stamp"] = str(stamp)
    record["updated"] = time.time()


def write_lines(path, lines):
    """
    Write ``lines`` to ``path``, one a line, atomically.

    path
        The file.

    lines
        Text lines without newlines.
    """
    files.write_text(path, "".join(f"{line}\n" for line in lines))


def has_stale_visitor(cfg, record):
    """
    True when maintenance is off but the map or bypass file still lists something (a stop
    that did not finish).

    cfg
        The LB's configuration.

    record
        The record.
    """
    visitor = cfg["visitor"]
    paths = (visitor["map_file"], visitor["paths_map_file"], visitor["bypass_file"])
    return not record.get("active") and any(
        os.path.isfile(path) and os.path.getsize(path) for path in paths
    )


def plan_start(record, live, backends):
    """
    Which app servers a start moves (``{backend: [servers]}``), and which DRAIN ones it
    leaves alone because an operator put them there (forced DRAIN, ``FDRAIN``, on a server
    the record does not list). Servers in MAINT for any reason need nothing: forced
    (``FMAINT``), or HAProxy's own (``RMAINT``: no address; ``CMAINT``, ``IMAINT``,
    ``HMAINT``), so a stop never "restores" them.

    record
        The record.

    live
        ``haproxy_runtime.server_status``.

    backends
        The backends to maintain.
    """
    changed, skipped = {}, {}
    for backend in backends:
        if backend not in live:
            raise CommandExecutionError(f"No such backend in the running HAProxy: {backend}")
        ours = set(record["changed"].get(backend, []))
        for server, info in sorted(live[backend].items()):
            # The sorry server; or out of service already: forced (ours or an operator's),
            # or for HAProxy's own reason (no address, disabled in the config), which no stop
            # of ours is to undo.
            if info["backup"] or info["admin"] == "maint":
                continue
            if FORCED_DRAIN in info.get("admin_flags", []) and server not in ours:
                skipped.setdefault(backend, []).append(server)  # an operator's DRAIN
                continue
            changed.setdefault(backend, []).append(server)
    return changed, skipped


def changes(servers_by_backend, state):
    """
    ``haproxy_runtime.set_states`` changes that put every listed server into ``state``.

    servers_by_backend
        ``{backend: [servers]}``.

    state
        ``ready``, ``drain`` or ``maint``.
    """
    return [
        {"backend": backend, "server": server, "state": state}
        for backend, servers in servers_by_backend.items()
        for server in servers
    ]


def outcome(
    record, *, began, state, comment="", changed=None, skipped=None, sorry=None, test=False
):
    """
    What a start or stop returns.

    record
        The record after it.

    began
        ``time.monotonic()`` when it began.

    state
        ``changed``, ``already in maintenance``, ``superseded`` ...

    comment, changed, skipped, sorry, test
        Added when given: the servers moved, those left alone, the sorry server's state, a
        dry run.
    """
    result = {
        "state": state,
        "active": bool(record.get("active")),
        "backends": list(record.get("backends", [])),
        "paths": dict(record.get("paths") or {}),
        "changed": changed or {},
        "bypass": list(record.get("bypass") or []),
        "eta_at": record.get("eta_at") or "",
        "duration_s": round(time.monotonic() - began, 4),
    }
    if test:
        result["test"] = True
    if skipped:
        result["left_alone"] = skipped
    if sorry is not None:
        result["sorry_server"] = sorry
    if comment:
        result["comment"] = comment
    return result


def status_report(cfg, record, *, sorry_up, live=None, unreachable=None):
    """
    The LB's status as ``haproxy_maint.status`` returns it: the record, and per maintained
    backend each server's admin state (``admin`` and its bits ``admin_flags``), ``status``,
    sessions and backup flag, and ``why`` when HAProxy itself keeps it out of service (no
    address because its host name did not resolve, disabled in the config, tracking a
    server in MAINT).

    cfg
        The LB's configuration.

    record
        The record.

    sorry_up
        Whether the sorry server answers.

    live
        ``haproxy_runtime.server_status`` (None when HAProxy did not answer).

    unreachable
        Why HAProxy did not answer, for ``haproxy: unreachable: ...``.
    """
    result = {
        "env": cfg.get("env", ""),
        "maintenance": bool(record.get("active")),
        "backends_in_maintenance": record.get("backends", []),
        "paths_in_maintenance": record.get("paths") or {},
        "reason": record.get("reason", ""),
        "eta": record.get("eta", ""),
        "eta_at": record.get("eta_at", ""),
        "bypass": record.get("bypass", []),
        # Whether a bypass secret is configured; the secret itself is never returned.
        "bypass_secret": bool(cfg["visitor"]["bypass"]["secret"]),
        "sorry_server": "up" if sorry_up else "down",
        "backends": {},
    }
    if live is None:
        result["haproxy"] = f"unreachable: {unreachable}"
        return result
    result["haproxy"] = "up"
    for backend in discovery.maintained_backends(cfg, server_status=lambda: live):
        servers = live.get(backend)
        if servers is None:
            result["backends"][backend] = {"error": "not in the running HAProxy"}
            continue
        result["backends"][backend] = {
            server: _server_report(info) for server, info in servers.items()
        }
    return result


def _server_report(info):
    """One server of the status report; ``why`` when HAProxy itself keeps it out."""
    report = {
        "admin": info["admin"],
        "admin_flags": info.get("admin_flags", []),
        "status": info["status"],
        "sessions": info["sessions"],
        "backup": info["backup"],
    }
    fqdn = info.get("fqdn") or "its host name"
    why = [
        NOT_FORCED_WHY[flag].format(fqdn=fqdn)
        for flag in report["admin_flags"]
        if flag in NOT_FORCED_WHY
    ]
    if why:
        report["why"] = "; ".join(why)
    return report


def not_up(server_status, restored, *, wait, check_interval, poll_interval):
    """
    The restored servers that are not UP after at most ``wait`` seconds, and those among
    them that have no address (``RMAINT``: their host name did not resolve; HAProxy's doing,
    not a server stuck by maintenance, and not waited for): ``(not_up, no_address)``, each
    ``{backend: [servers]}``. A server just out of MAINT shows UP until its first check, so
    nothing counts as UP before one check interval has passed; a server still in transition
    shows ``UP 1/3``, not ``UP``.

    server_status
        A function that returns ``haproxy_runtime.server_status``.

    restored
        ``{backend: [servers]}`` that a stop put back to READY.

    wait, check_interval, poll_interval
        Seconds.
    """
    if not restored:
        return {}, {}
    began = time.monotonic()
    deadline = began + max(float(wait), 0)
    checked = began + min(check_interval + poll_interval, max(float(wait), 0))
    while True:
        live = server_status()
        down, no_address = {}, {}
        for backend, servers in restored.items():
            for server in servers:
                info = live.get(backend, {}).get(server) or {}
                if NO_ADDRESS in info.get("admin_flags", []):
                    no_address.setdefault(backend, []).append(server)
                elif info.get("status") not in UP_STATUSES:
                    down.setdefault(backend, []).append(server)
        now = time.monotonic()
        if (not down and now >= checked) or now >= deadline:
            return down, no_address
        time.sleep(poll_interval)
