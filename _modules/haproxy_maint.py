"""
Maintenance of one HAProxy load balancer: fail its backends over to the sorry server, and back.

``start`` puts the app servers of the LB's backends into MAINT (or DRAIN, then MAINT) through
``haproxy_runtime``, so HAProxy sends every request to the local sorry server (the ``backup``
server) at once, with no reload and no health-check wait. ``stop`` brings back exactly the
servers that ``start`` moved: a server an operator had put in MAINT or DRAIN stays as it was.

The LB keeps a record of the desired maintenance (``maintenance:state_file``, JSON). It is
written before HAProxy is touched, and it is what a reload, a restart, a highstate
(``haproxy_maint.converged`` state) or a returning minion re-applies. After every change the
server state file is dumped, so an HAProxy restart loads the admin states back by itself.

Configuration comes from pillar ``haproxy_maint`` (see the pillar reference). With
``haproxy:manage_config: false`` another tool renders haproxy.cfg, and the backends come from
the running HAProxy (:py:mod:`saltext_haproxy_maint.discovery`).
"""

import logging
import os
import time

import salt.utils.yaml
from salt.exceptions import CommandExecutionError, SaltInvocationError

from saltext_haproxy_maint import (
    configcheck,
    discovery,
    lbconfig,
    names,
    runtime,
    sorry,
    switchover,
    timefmt,
)
from saltext_haproxy_maint import record as lb_record
from saltext_haproxy_maint import request as request_fields

log = logging.getLogger(__name__)

__virtualname__ = "haproxy_maint"

SORRY_START_WAIT = 5.0
SORRY_POLL_INTERVAL = 0.1
# After a reload, how long reapply waits for a worker that runs the current config.
RELOAD_WAIT = 10.0
RELOAD_POLL_INTERVAL = 0.1
# After a stop, how often the restored servers are looked at until they are UP.
NOT_UP_POLL_INTERVAL = 0.25
DEFAULT_CHECK_INTERVAL = "2s"


def __virtual__():
    return __virtualname__


# --- configuration and record ------------------------------------------------------------


def _defaults(fresh=False):
    """The state tree's defaults.yaml, the same file that map.jinja reads: the minion's cached
    copy (what its running config was rendered from; no round trip to the master in every
    maintenance job), else, or when ``fresh``, fetched from the fileserver."""
    cached = None if fresh else __salt__["cp.is_cached"](names.DEFAULTS_URL)
    if cached:
        with open(cached, encoding="utf-8") as handle:
            text = handle.read()
    else:
        text = __salt__["cp.get_file_str"](names.DEFAULTS_URL)
    if not text:
        raise CommandExecutionError(f"{names.DEFAULTS_URL} is not on the fileserver")
    return salt.utils.yaml.safe_load(text)[names.CONFIG_KEY]


def _config():
    """Pillar ``haproxy_maint`` over the defaults, validated: what map.jinja renders from."""
    if "haproxy_maint.config" not in __context__:
        pillar = __salt__["config.get"](names.CONFIG_KEY, {}) or {}
        try:
            config = lbconfig.lb_config(_defaults(), pillar)
        except SaltInvocationError:
            # A cached defaults.yaml older than these modules (synced, not yet highstated)
            # lacks a key they know: the fileserver's copy decides.
            config = lbconfig.lb_config(_defaults(fresh=True), pillar)
        __context__["haproxy_maint.config"] = config
    return __context__["haproxy_maint.config"]


def config():
    """
    Return the LB's maintenance configuration: pillar ``haproxy_maint`` merged over the state
    tree's ``defaults.yaml`` and validated, exactly as the state tree reads it. The TLS key
    (``tls:pem``) and the bypass secret (``visitor:bypass:secret``) are masked.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.config
    """
    return lbconfig.masked(_config())


def _socket(cfg):
    return cfg["haproxy"]["runtime"]["socket"]


def _live(cfg):
    return __salt__["haproxy_runtime.server_status"](socket=_socket(cfg))


def maintained_backends():
    """
    Return the backends that maintenance acts on by default: every backend of the LB's
    pillar that has the sorry server as its ``backup`` (``backend_defaults`` included); with
    ``haproxy:manage_config: false``, every backend of the running HAProxy (``show stat``,
    ``show servers state``) with a ``backup`` server at the sorry server's address.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.maintained_backends
    """
    cfg = _config()
    return discovery.maintained_backends(cfg, server_status=lambda: _live(cfg))


def read_record():
    """
    Return the LB's record of desired maintenance (``{"active": False}`` when there is none).

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.read_record
    """
    return lb_record.read(_config())


# --- the visitor's side: the files and runtime map/ACL HAProxy reads -----------------------


def _apply_visitor(cfg, record):
    """Make HAProxy's maintenance map (maintained backend -> ETA) and bypass ACL what the
    record says: first the files, which a reload or restart loads, then the same through the
    runtime API, which takes effect at once."""
    visitor = cfg["visitor"]
    entries, cidrs = lb_record.visitor_entries(record)
    maps = {visitor["map_file"]: entries, visitor["paths_map_file"]: lb_record.path_entries(record)}
    for path, map_entries in maps.items():
        lb_record.write_lines(
            path, [f"{key} {value}" for key, value in sorted(map_entries.items())]
        )
    lb_record.write_lines(visitor["bypass_file"], cidrs)
    loaded = {entry["file"] for entry in __salt__["haproxy_runtime.list_maps"](socket=_socket(cfg))}
    if visitor["status_map_file"] in loaded:
        # Before the page shows (or goes): HAProxy holds the status document just written.
        def held():
            entries = __salt__["haproxy_runtime.show_map"](
                visitor["status_map_file"], socket=_socket(cfg)
            )
            return entries.get(lb_record.STATUS_KEY)

        expected = lb_record.page_status_text(cfg, record)
        if lb_record.wait_status_held(held, expected) is False:
            log.warning("HAProxy did not take %s within 1 s", visitor["status_file"])
    if visitor["map_file"] not in loaded:
        # A config rendered before the visitor's side existed, or one another tool renders
        # without the visitor block: MAINT still works (the page as the seed served it).
        log.warning("HAProxy has not loaded %s: highstate this LB", visitor["map_file"])
        return "files written; the running HAProxy config has no visitor rules (haproxy_maint.check_config)"
    for path, map_entries in maps.items():
        if path in loaded:
            __salt__["haproxy_runtime.replace_map"](path, map_entries, socket=_socket(cfg))
    __salt__["haproxy_runtime.replace_acl"](visitor["bypass_file"], cidrs, socket=_socket(cfg))
    if visitor["paths_map_file"] not in loaded and maps[visitor["paths_map_file"]]:
        # A config rendered before path scope existed: whole backends work, paths need it.
        return "applied; the running HAProxy config has no paths map (highstate)"
    return "applied"


def _loaded_files(cfg):
    """The files the running HAProxy loaded as maps and as ACLs."""
    maps = __salt__["haproxy_runtime.list_maps"](socket=_socket(cfg))
    acls = __salt__["haproxy_runtime.list_acls"](socket=_socket(cfg))
    return {entry["file"] for entry in maps + acls}


def _clear_stale_visitor(cfg, record):
    """With maintenance off, a map or bypass file that still lists something (a stop that did
    not finish) is emptied, in the files and in HAProxy, so that no reload turns the page or a
    bypass back on. The caller holds the lock; nothing happens in the usual case."""
    if not lb_record.has_stale_visitor(cfg, record):
        return "nothing to clear"
    return _apply_visitor(cfg, record)


# --- sorry server ------------------------------------------------------------------------


def _sorry_answers(cfg):
    return sorry.answers(cfg["sorry_server"]["host"], cfg["sorry_server"]["port"])


def _ensure_sorry_server(cfg):
    """Check that the sorry server answers; if not, ask supervisord to start it."""
    if _sorry_answers(cfg):
        return "ok"
    program = cfg["sorry_server"]["program"]
    conf_file = cfg["supervisor"]["conf_file"]
    log.warning("sorry server does not answer; starting supervisord program %s", program)
    retcode = __context__.get("retcode")
    try:
        __salt__["supervisord.start"](program, conf_file=conf_file)
    except CommandExecutionError as err:
        log.error("supervisord could not start %s: %s", program, err)
        return f"down (supervisord: {err})"
    finally:
        # supervisorctl's own exit code (e.g. "already started") lands in the job's retcode
        # through cmd.run; the outcome is judged here, so the job must not fail for it.
        if retcode is None:
            __context__.pop("retcode", None)
        else:
            __context__["retcode"] = retcode
    answered = sorry.wait_until(
        lambda: _sorry_answers(cfg), wait=SORRY_START_WAIT, poll_interval=SORRY_POLL_INTERVAL
    )
    return "started" if answered else "down"


# --- actions -----------------------------------------------------------------------------


def _apply_start(cfg, changed, mode, drain_timeout):
    """Move the planned servers to MAINT (through DRAIN first in drain mode), then close
    their sessions: ``(drain, {"backend/server": sessions closed})``."""
    return switchover.apply_start(
        lambda function, **kwargs: __salt__[f"haproxy_runtime.{function}"](
            socket=_socket(cfg), **kwargs
        ),
        changed=changed,
        mode=mode,
        drain_timeout=drain_timeout,
        close_after=cfg["maintenance"]["close_sessions_after"],
    )


def _save_state_file(cfg):
    __salt__["haproxy_runtime.save_servers_state"](
        path=cfg["haproxy"]["server_state_file"],
        socket=_socket(cfg),
        config_file=cfg["haproxy"]["config_file"],
    )


def start(
    backends=None,
    mode="maint",
    drain_timeout=None,
    reason=None,
    eta=None,
    eta_at=None,
    bypass=None,
    paths=None,
    stamp=None,
    test=False,
    ensure_sorry=True,
):
    """
    Put this LB's backends into maintenance: app servers to MAINT, the sorry server serves.

    Idempotent: a repeated start changes nothing and says "already in maintenance". Servers
    an operator had put in MAINT or DRAIN before are left alone and not restored by ``stop``.

    backends
        Backend names; default every backend of the LB's pillar that has the sorry server as
        ``backup``. An empty list is refused. With ``haproxy:manage_config: false``: the
        running HAProxy's backends that have a ``backup`` server at the sorry server's
        address (``show stat``, ``show servers state``); a backend it lacks, or one without
        that server, raises ``SaltInvocationError`` naming those it has, or the line to add.

    mode
        ``maint`` (default): MAINT, then (after pillar ``maintenance:close_sessions_after``
        seconds) every session still open on the servers it moved is closed (``shutdown
        sessions server``), requests in flight and WebSockets included. ``drain``: no new
        sessions, wait up to ``drain_timeout`` seconds for current ones to end, then MAINT,
        and what is left is closed. The result's ``sessions_closed`` counts them.

    drain_timeout
        Seconds, for ``mode=drain``; default pillar ``maintenance:drain_timeout``.

    reason, eta
        Text shown on the maintenance page (at most 500 and 100 characters).

    eta_at
        When maintenance should end, ISO 8601 with a zone (``2026-11-26T22:00:00+01:00``):
        the page shows it in the visitor's local time, and ``Retry-After`` is this instant as
        an HTTP-date while it lies ahead.

    bypass
        CIDRs (``10.1.2.0/24``, an address alone means one host) whose requests still reach
        the app servers while everyone else gets the page; at most 50, none wider than /8
        (IPv4) or /16 (IPv6), so never ``0.0.0.0/0`` or ``::/0``. Replaces the bypass of an
        earlier start; cleared by the stop that ends the maintenance. A new CIDR raises
        ``SaltInvocationError`` when the running HAProxy has not loaded the visitor block's
        map and bypass ACL (``show map``, ``show acl``), naming the missing lines.

    paths
        Path prefixes (``/checkout``; at most 50): only the requests of ``backends`` whose
        path begins with one get the page; servers stay READY. A backend in maintenance as a
        whole stays so. A stop of the backend ends it.

    stamp
        The request's time stamp (set by the master); a request older than the one recorded
        is skipped, so that start and stop arriving together end in the state of the last.

    test
        Return what would change (``changed``) and what would be left alone; change nothing.

    ensure_sorry
        Check that the sorry server answers first and, if not, start it with supervisord.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.start
        salt lb1 haproxy_maint.start backends='[app]' mode=drain drain_timeout=30 reason="Upgrade"
        salt lb1 haproxy_maint.start test=True
        salt lb1 haproxy_maint.start bypass='[192.0.2.0/28]' eta_at=2026-11-26T22:00:00Z
        salt lb1 haproxy_maint.start backends='[app]' paths='[/checkout]'
    """
    began = time.monotonic()
    cfg = _config()
    backends = discovery.requested_backends(cfg, backends, server_status=lambda: _live(cfg))
    mode = request_fields.check_mode(mode)
    if drain_timeout is None:
        drain_timeout = cfg["maintenance"]["drain_timeout"]
    drain_timeout = request_fields.check_drain_timeout(drain_timeout)
    reason = request_fields.check_reason(reason)
    eta = request_fields.check_eta(eta)
    eta_at = request_fields.check_eta_at(eta_at)
    bypass = request_fields.check_bypass(bypass)
    paths = request_fields.check_paths(paths)
    test = request_fields.check_test(test)
    if not backends:
        raise SaltInvocationError("this LB's pillar declares no backend with a sorry server")
    with lb_record.locked(cfg):
        record = lb_record.read(cfg)
        if lb_record.superseded(record, stamp):
            return lb_record.outcome(
                record, began=began, state="superseded", comment="a newer request is recorded"
            )
        # A bypass that HAProxy cannot honour is refused; one already recorded is re-applied.
        new_bypass = [cidr for cidr in bypass if cidr not in (record.get("bypass") or [])]
        configcheck.check_bypass(cfg, bypass=new_bypass, loaded=lambda: _loaded_files(cfg))
        live = _live(cfg)
        # Path-scoped: no server moves.
        changed, skipped = lb_record.plan_start(record, live, [] if paths else backends)
        state = lb_record.start_state(
            record, backends=backends, paths=paths, changed=changed, test=test
        )
        if test:
            return lb_record.outcome(
                record, began=began, state=state, changed=changed, skipped=skipped, test=True
            )
        sorry_state = _ensure_sorry_server(cfg) if ensure_sorry else "not checked"
        fields = {"mode": mode, "reason": reason, "eta": eta, "eta_at": eta_at, "bypass": bypass}
        lb_record.record_start(
            record, backends=backends, paths=paths, fields=fields, changed=changed, stamp=stamp
        )
        # Recorded before HAProxy is touched: whatever happens next, this is what a reload,
        # a restart or a returning minion will re-apply, and what stop will restore.
        lb_record.write(cfg, record)
        lb_record.write_page_status(cfg, record)
        # Before the servers move: from here on every new request of these backends gets the
        # page (or the bypass), also while drain mode waits.
        visitor = _apply_visitor(cfg, record)
        drain, closed = _apply_start(cfg, changed, mode, drain_timeout)
        _save_state_file(cfg)
    result = lb_record.outcome(
        record, began=began, state=state, changed=changed, skipped=skipped, sorry=sorry_state
    )
    if drain is not None:
        result["drain"] = drain
    result["visitor"] = visitor
    result["sessions_closed"] = sum(closed.values())
    return result


def stop(backends=None, stamp=None, test=False, not_up_wait=None):
    """
    End maintenance on this LB: the servers that ``start`` moved go back to READY, then the
    call waits (bounded) for them to be UP and lists those that are not (``not_up``); one
    that has no address (its host name does not resolve: HAProxy's ``RMAINT``) is listed
    under ``no_address`` instead, not waited for.

    Servers that were in MAINT or DRAIN before ``start`` stay as they were. Idempotent: a
    stop with no maintenance on changes nothing.

    backends
        Backend names; default every backend in maintenance.

    stamp
        The request's time stamp (set by the master); see :py:func:`start`.

    test
        Return what would be restored; change nothing.

    not_up_wait
        Seconds to wait for the restored servers to be UP; default pillar
        ``maintenance:not_up_wait``; 0 does not wait.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.stop
        salt lb1 haproxy_maint.stop test=True
    """
    began = time.monotonic()
    cfg = _config()
    if backends is not None:
        backends = discovery.requested_backends(cfg, backends, server_status=lambda: _live(cfg))
    test = request_fields.check_test(test)
    if not_up_wait is None:
        not_up_wait = cfg["maintenance"]["not_up_wait"]
    with lb_record.locked(cfg):
        record = lb_record.read(cfg)
        if lb_record.superseded(record, stamp):
            return lb_record.outcome(
                record, began=began, state="superseded", comment="a newer request is recorded"
            )
        if not record.get("active"):
            result = lb_record.outcome(record, began=began, state="not in maintenance", test=test)
            if not test:
                if stamp:
                    record["stamp"] = str(stamp)
                    lb_record.write(cfg, record)
                result["visitor"] = _clear_stale_visitor(cfg, record)
            return result
        ending = lb_record.in_maintenance(record) if backends is None else backends
        live = _live(cfg)
        restored = {}
        for backend in ending:
            servers = [
                server
                for server in record["changed"].get(backend, [])
                if server in live.get(backend, {})
            ]
            if servers:
                restored[backend] = servers
        if test:
            state = "would restore" if restored else "nothing to restore"
            return lb_record.outcome(record, began=began, state=state, changed=restored, test=True)
        if restored:
            __salt__["haproxy_runtime.set_states"](
                lb_record.changes(restored, "ready"), socket=_socket(cfg)
            )
        lb_record.record_stop(record, ending=ending, stamp=stamp)
        lb_record.write(cfg, record)
        lb_record.write_page_status(cfg, record)
        # After the servers are READY again, so no request finds neither page nor app.
        visitor = _apply_visitor(cfg, record)
        _save_state_file(cfg)
    state = "changed" if restored else "nothing to restore"
    result = lb_record.outcome(record, began=began, state=state, changed=restored)
    result["visitor"] = visitor
    result["not_up"], no_address = _not_up(cfg, restored, not_up_wait)
    if no_address:
        result["no_address"] = no_address
    return result


def _check_interval(cfg):
    """Seconds between two health checks (``default_server:inter``; HAProxy's unit is ms)."""
    return timefmt.haproxy_seconds(
        cfg["haproxy"]["default_server"].get("inter", DEFAULT_CHECK_INTERVAL)
    )


def _not_up(cfg, restored, wait):
    return lb_record.not_up(
        lambda: _live(cfg),
        restored,
        wait=wait,
        check_interval=_check_interval(cfg),
        poll_interval=NOT_UP_POLL_INTERVAL,
    )


def reapply():
    """
    Re-apply the recorded maintenance after a reload, restart or highstate.

    With maintenance on, every READY app server of the recorded backends goes back to MAINT
    (a server renamed in pillar included), and the visitor's side (maintenance map, bypass)
    is set again; with maintenance off no server is touched, and a map or bypass left over
    from a stop that did not finish is emptied.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.reapply
    """
    cfg = _config()
    record = lb_record.read(cfg)
    if not record.get("active"):
        with lb_record.locked(cfg):
            _clear_stale_visitor(cfg, lb_record.read(cfg))
        return {"state": "not in maintenance", "changed": {}, "active": False}
    _wait_for_current_config(cfg)
    maintained = set(discovery.maintained_backends(cfg, server_status=lambda: _live(cfg)))
    backends = [name for name in record["backends"] if name in maintained]
    if not backends:
        # Path-scoped maintenance only (or nothing declared any more): no server to move.
        with lb_record.locked(cfg):
            visitor = _apply_visitor(cfg, lb_record.read(cfg))
        state = "applied" if record.get("paths") else "no recorded backend is declared any more"
        return {"state": state, "changed": {}, "active": True, "visitor": visitor}
    return start(
        backends=backends,
        mode="maint",
        reason=record.get("reason"),
        eta=record.get("eta"),
        eta_at=record.get("eta_at"),
        bypass=record.get("bypass"),
        ensure_sorry=False,
    )


def _wait_for_current_config(cfg):
    """Wait (bounded) until the runtime socket is served by a worker started after the
    config file last changed: right after a reload the old worker may still answer, and it
    does not know a server that was just added or renamed."""
    try:
        changed_at = int(os.stat(cfg["haproxy"]["config_file"]).st_mtime)
    except OSError:
        return
    started = runtime.wait_for_worker(
        lambda: __salt__["haproxy_runtime.show_info"](socket=_socket(cfg)),
        since=changed_at,
        wait=RELOAD_WAIT,
        poll_interval=RELOAD_POLL_INTERVAL,
    )
    if not started:
        log.warning("no HAProxy worker newer than %s answered", cfg["haproxy"]["config_file"])


def would_change():
    """
    Say what :py:func:`reapply` would change, without changing anything (for ``test=True``).

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.would_change
    """
    cfg = _config()
    record = lb_record.read(cfg)
    if not record.get("active"):
        return {}
    live = _live(cfg)
    backends = [name for name in record["backends"] if name in live]
    return lb_record.plan_start(record, live, backends)[0]


def status():
    """
    Return this LB's maintenance status: the record, and per backend each server's admin
    and operational state and current sessions, and whether the sorry server answers.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.status
    """
    cfg = _config()
    sorry_up = _sorry_answers(cfg)
    try:
        live = _live(cfg)
    except CommandExecutionError as err:
        return lb_record.status_report(cfg, lb_record.read(cfg), sorry_up=sorry_up, unreachable=err)
    return lb_record.status_report(cfg, lb_record.read(cfg), sorry_up=sorry_up, live=live)
