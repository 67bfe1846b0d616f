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

Configuration comes from pillar ``haproxy_maint`` (see the pillar reference).
"""

import contextlib
import datetime
import fcntl
import ipaddress
import json
import logging
import os
import socket
import tempfile
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "haproxy_maint"

PILLAR_KEY = "haproxy_maint"
# The keys this module reads, with the defaults of salt/haproxy_maint/defaults.yaml
# (tests/unit/modules/test_haproxy_maint.py checks that they agree).
DEFAULTS = {
    "env": "",
    "haproxy": {
        "runtime": {"socket": "/run/haproxy/admin.sock", "timeout": 5},
        "config_file": "/etc/haproxy/haproxy.cfg",
        "server_state_file": "/var/lib/haproxy/server-state",
        "backends": {},
    },
    "sorry_server": {
        "name": "localhost",
        "host": "127.0.0.1",
        "port": 8080,
        "program": "http-server",
    },
    "supervisor": {"conf_file": "/etc/supervisor/supervisord.conf"},
    "page": {"root": "/var/www"},
    "maintenance": {
        "state_file": "/var/lib/haproxy-maint/desired.json",
        "drain_timeout": 60,
    },
    "visitor": {
        "poll_interval": 15,
        "map_file": "/var/lib/haproxy-maint/visitor/maintenance.map",
        "bypass_file": "/var/lib/haproxy-maint/visitor/bypass.acl",
        "bypass": {"secret": ""},
    },
}
MODES = ("maint", "drain")
REASON_MAX_LENGTH = 500
ETA_MAX_LENGTH = 100
DRAIN_TIMEOUT_MAX = 3600
SORRY_CHECK_TIMEOUT = 1.0
SORRY_START_WAIT = 5.0
SORRY_POLL_INTERVAL = 0.1
# After a reload, how long reapply waits for a worker that runs the current config.
RELOAD_WAIT = 10.0
RELOAD_POLL_INTERVAL = 0.1
PAGE_STATUS_FILE = "maintenance.json"


def __virtual__():
    return __virtualname__


# --- configuration and record ------------------------------------------------------------


def _merge(base, override):
    merged = dict(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config():
    """
    Return the LB's maintenance configuration: pillar ``haproxy_maint`` over the defaults.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.config
    """
    if "haproxy_maint.config" not in __context__:
        __context__["haproxy_maint.config"] = _without_secret(
            _merge(DEFAULTS, __salt__["config.get"](PILLAR_KEY, {}) or {})
        )
    return __context__["haproxy_maint.config"]


def _socket(cfg):
    return cfg["haproxy"]["runtime"]["socket"]


def maintained_backends(cfg=None):
    """
    Return the backends that maintenance acts on by default: every backend of the LB's
    pillar that has the sorry server as its ``backup``.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.maintained_backends
    """
    cfg = cfg or config()
    backends = cfg["haproxy"].get("backends") or {}
    return sorted(
        name
        for name, backend in backends.items()
        if (backend or {}).get("sorry", True) is not False
    )


def read_record(cfg=None):
    """
    Return the LB's record of desired maintenance (``{"active": False}`` when there is none).

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.read_record
    """
    cfg = cfg or config()
    path = cfg["maintenance"]["state_file"]
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return {"active": False, "backends": [], "changed": {}}
    except (OSError, ValueError) as err:
        raise CommandExecutionError(f"cannot read maintenance record {path}: {err}") from err
    if not isinstance(record, dict):
        raise CommandExecutionError(f"maintenance record {path} is not a JSON object")
    record.setdefault("backends", [])
    record.setdefault("changed", {})
    return record


def _write_json(path, data, mode=0o644, durable=True):
    _write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n", mode, durable)


def _write_text(path, text, mode=0o644, durable=True):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_record(cfg, record):
    path = cfg["maintenance"]["state_file"]
    try:
        _write_json(path, record, mode=0o600)
    except OSError as err:
        raise CommandExecutionError(f"cannot write maintenance record {path}: {err}") from err


def _write_page_status(cfg, record):
    """What the page shows: text only; the page sets it with textContent, never as HTML."""
    path = os.path.join(cfg["page"]["root"], PAGE_STATUS_FILE)
    status = {
        # Whoever reads this document through HAProxy is being served by the sorry server.
        "maintenance": True,
        "active": bool(record.get("active")),
        "reason": record.get("reason") or "",
        "eta": record.get("eta") or "",
        "eta_at": record.get("eta_at") or "",
        "poll_s": cfg["visitor"]["poll_interval"],
    }
    try:
        # The page's text is rewritten by every start/stop; it need not survive a power cut.
        _write_json(path, status, durable=False)
    except OSError as err:
        raise CommandExecutionError(f"cannot write page status {path}: {err}") from err


@contextlib.contextmanager
def _locked(cfg):
    """Serialise start/stop/reapply on this LB (each job runs in its own process)."""
    path = cfg["maintenance"]["state_file"] + ".lock"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- validation --------------------------------------------------------------------------


def _check_text(value, name, limit):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SaltInvocationError(f"{name} must be text, not {type(value).__name__}")
    if len(value) > limit:
        raise SaltInvocationError(f"{name} is longer than {limit} characters")
    if any(ord(char) < 32 and char not in "\t" for char in value):
        raise SaltInvocationError(f"{name} must not hold control characters or newlines")
    return value


def _check_backends(backends, cfg):
    """Absent means every maintained backend; anything else must be a non-empty list of
    backends that this LB's pillar declares with a sorry server."""
    declared = maintained_backends(cfg)
    if backends is None:
        return declared
    if not isinstance(backends, (list, tuple)):
        raise SaltInvocationError(
            f"backends must be a list of backend names, not {type(backends).__name__}"
        )
    if not backends:
        raise SaltInvocationError("backends is an empty list; leave it out to mean every backend")
    names = []
    for name in backends:
        __salt__["haproxy_runtime.validate_name"](name, "backend")
        if name == cfg["sorry_server"]["name"]:
            raise SaltInvocationError(f"{name!r} is the sorry server, not a backend")
        if name not in declared:
            raise SaltInvocationError(
                f"unknown backend {name!r}: this LB maintains {', '.join(declared) or 'none'}"
            )
        if name not in names:
            names.append(name)
    return sorted(names)


def _check_drain_timeout(drain_timeout, cfg):
    if drain_timeout is None:
        drain_timeout = cfg["maintenance"]["drain_timeout"]
    if isinstance(drain_timeout, bool) or not isinstance(drain_timeout, (int, float)):
        raise SaltInvocationError("drain_timeout must be a number of seconds")
    if not 0 <= drain_timeout <= DRAIN_TIMEOUT_MAX:
        raise SaltInvocationError(f"drain_timeout must be between 0 and {DRAIN_TIMEOUT_MAX}")
    return drain_timeout


def _superseded(record, stamp):
    """True when the record was written for a request newer than ``stamp``."""
    return bool(stamp and record.get("stamp") and str(stamp) < str(record["stamp"]))


# --- the visitor's side: bypass, ETA and the files HAProxy loads (issue 9) ------------------

BYPASS_MAX_ENTRIES = 64
BYPASS_MAX_LENGTH = 50
# The widest bypass accepted per IP version: never everyone (0.0.0.0/0, ::/0) or half of it.
BYPASS_MIN_PREFIX = {4: 8, 6: 16}
ETA_AT_MAX_LENGTH = 64
REDACTED = "<redacted>"


def _check_bypass(value):
    """Return the bypass as a sorted list of canonical CIDR strings (``[]`` for None)."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise SaltInvocationError(f"bypass must be a list of CIDRs, not {type(value).__name__}")
    if len(value) > BYPASS_MAX_ENTRIES:
        raise SaltInvocationError(f"bypass lists more than {BYPASS_MAX_ENTRIES} CIDRs")
    networks = set()
    for item in value:
        if not isinstance(item, str) or not 0 < len(item) <= BYPASS_MAX_LENGTH:
            raise SaltInvocationError(f"bypass entry {item!r} is not a CIDR string")
        try:
            network = ipaddress.ip_network(item, strict=True)
        except ValueError as err:
            raise SaltInvocationError(f"bypass entry {item!r} is not a CIDR: {err}") from err
        if network.prefixlen < BYPASS_MIN_PREFIX[network.version]:
            raise SaltInvocationError(
                f"bypass entry {item!r} is too wide: at most "
                f"/{BYPASS_MIN_PREFIX[network.version]} for IPv{network.version}"
            )
        if network.version == 6 and network.network_address.ipv4_mapped is not None:
            raise SaltInvocationError(f"bypass entry {item!r}: give IPv4 networks as IPv4")
        networks.add(network)
    return [str(network) for network in sorted(networks, key=lambda n: (n.version, n))]


def _check_eta_at(value):
    """Return ``eta_at`` as ISO 8601 in UTC (``""`` for None or ""); a zone is required."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > ETA_AT_MAX_LENGTH:
        raise SaltInvocationError("eta_at must be an ISO 8601 date and time with a zone")
    try:
        # Python 3.10 reads no "Z"; it means +00:00.
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as err:
        raise SaltInvocationError(f"eta_at {value!r} is not ISO 8601: {err}") from err
    if when.tzinfo is None or when.utcoffset() is None:
        raise SaltInvocationError(f"eta_at {value!r} has no zone (add Z or +hh:mm)")
    return when.astimezone(datetime.timezone.utc).isoformat()


def _eta_epoch(eta_at):
    if not eta_at:
        return 0
    return int(datetime.datetime.fromisoformat(eta_at).timestamp())


def _without_secret(cfg):
    """The configuration with the bypass secret replaced: it is HAProxy's, never returned."""
    visitor = dict(cfg["visitor"])
    bypass = dict(visitor["bypass"])
    if bypass.get("secret"):
        bypass["secret"] = REDACTED
    visitor["bypass"] = bypass
    return {**cfg, "visitor": visitor}


def _write_lines(path, lines):
    try:
        _write_text(path, "".join(f"{line}\n" for line in lines))
    except OSError as err:
        raise CommandExecutionError(f"cannot write {path}: {err}") from err


def _apply_visitor(cfg, record):
    """Make HAProxy's maintenance map (maintained backend -> ETA) and bypass ACL what the
    record says: first the files, which a reload or restart loads, then the same through the
    runtime API, which takes effect at once."""
    visitor = cfg["visitor"]
    active = bool(record.get("active"))
    epoch = _eta_epoch(record.get("eta_at")) if active else 0
    entries = {backend: str(epoch) for backend in record["backends"]} if active else {}
    cidrs = list(record.get("bypass") or []) if active else []
    _write_lines(visitor["map_file"], [f"{key} {value}" for key, value in sorted(entries.items())])
    _write_lines(visitor["bypass_file"], cidrs)
    loaded = __salt__["haproxy_runtime.list_maps"](socket=_socket(cfg))
    if visitor["map_file"] not in {entry["file"] for entry in loaded}:
        # A config rendered before the visitor's side existed: MAINT still works (the page
        # as the seed served it); a highstate renders the rules and loads these files.
        log.warning("HAProxy has not loaded %s: highstate this LB", visitor["map_file"])
        return "files written; the running HAProxy config has no visitor rules (highstate)"
    __salt__["haproxy_runtime.replace_map"](visitor["map_file"], entries, socket=_socket(cfg))
    __salt__["haproxy_runtime.replace_acl"](visitor["bypass_file"], cidrs, socket=_socket(cfg))
    return "applied"


def _clear_stale_visitor(cfg, record):
    """With maintenance off, a map or bypass file that still lists something (a stop that did
    not finish) is emptied, in the files and in HAProxy, so that no reload turns the page or a
    bypass back on. The caller holds the lock; nothing happens in the usual case."""
    paths = (cfg["visitor"]["map_file"], cfg["visitor"]["bypass_file"])
    if record.get("active") or not any(os.path.isfile(p) and os.path.getsize(p) for p in paths):
        return "nothing to clear"
    return _apply_visitor(cfg, record)


# --- sorry server ------------------------------------------------------------------------


def _sorry_answers(cfg):
    """True when the sorry server answers HTTP below 500. A bare socket, not urllib: this
    runs in every maintenance job, and importing urllib costs more than the request."""
    address = (cfg["sorry_server"]["host"], int(cfg["sorry_server"]["port"]))
    try:
        with socket.create_connection(address, timeout=SORRY_CHECK_TIMEOUT) as conn:
            conn.sendall(b"HEAD / HTTP/1.0\r\nHost: sorry-server\r\n\r\n")
            status_line = conn.recv(64).split()
    except OSError:
        return False
    return (
        len(status_line) >= 2
        and status_line[0].startswith(b"HTTP/")
        and status_line[1].isdigit()
        and int(status_line[1]) < 500
    )


def _ensure_sorry_server(cfg):
    """Check that the sorry server answers; if not, ask supervisord to start it."""
    if _sorry_answers(cfg):
        return "ok"
    program = cfg["sorry_server"]["program"]
    conf_file = cfg["supervisor"]["conf_file"]
    log.warning("sorry server does not answer; starting supervisord program %s", program)
    try:
        __salt__["supervisord.start"](program, conf_file=conf_file)
    except CommandExecutionError as err:
        log.error("supervisord could not start %s: %s", program, err)
        return f"down (supervisord: {err})"
    deadline = time.monotonic() + SORRY_START_WAIT
    while time.monotonic() < deadline:
        if _sorry_answers(cfg):
            return "started"
        time.sleep(SORRY_POLL_INTERVAL)
    return "down"


# --- actions -----------------------------------------------------------------------------


def _plan_start(record, live, backends):
    """Which app servers ``start`` moves (``{backend: [servers]}``), and which DRAIN ones
    it leaves alone because an operator put them there (MAINT ones need nothing)."""
    changed, skipped = {}, {}
    for backend in backends:
        if backend not in live:
            raise CommandExecutionError(f"No such backend in the running HAProxy: {backend}")
        ours = set(record["changed"].get(backend, []))
        for server, info in sorted(live[backend].items()):
            if info["backup"] or info["admin"] == "maint":
                continue  # the sorry server, or already out of service
            if info["admin"] == "drain" and server not in ours:
                skipped.setdefault(backend, []).append(server)  # an operator's DRAIN
                continue
            changed.setdefault(backend, []).append(server)
    return changed, skipped


def _apply_start(cfg, changed, mode, drain_timeout):
    """Move the planned servers to MAINT (through DRAIN first in drain mode)."""
    drain = None
    if changed and mode == "drain":
        __salt__["haproxy_runtime.set_states"](_changes(changed, "drain"), socket=_socket(cfg))
        drain = __salt__["haproxy_runtime.wait_drained"](
            list(changed), drain_timeout=drain_timeout, socket=_socket(cfg)
        )
    if changed:
        __salt__["haproxy_runtime.set_states"](_changes(changed, "maint"), socket=_socket(cfg))
    return drain


def _changes(servers_by_backend, state):
    return [
        {"backend": backend, "server": server, "state": state}
        for backend, servers in servers_by_backend.items()
        for server in servers
    ]


def _save_state_file(cfg):
    __salt__["haproxy_runtime.save_servers_state"](
        path=cfg["haproxy"]["server_state_file"], socket=_socket(cfg)
    )


def start(
    backends=None,
    mode="maint",
    drain_timeout=None,
    reason=None,
    eta=None,
    stamp=None,
    ensure_sorry=True,
    bypass=None,
    eta_at=None,
):
    """
    Put this LB's backends into maintenance: app servers to MAINT, the sorry server serves.

    Idempotent: a repeated start changes nothing and says "already in maintenance". Servers
    an operator had put in MAINT or DRAIN before are left alone and not restored by ``stop``.

    backends
        Backend names; default every backend of the LB's pillar that has the sorry server as
        ``backup``. An empty list is refused.

    mode
        ``maint`` (default), or ``drain``: no new sessions, wait up to ``drain_timeout``
        seconds for current sessions to end, then MAINT.

    drain_timeout
        Seconds, for ``mode=drain``; default pillar ``maintenance:drain_timeout``.

    reason, eta
        Text shown on the maintenance page (at most 500 and 100 characters).

    stamp
        The request's time stamp (set by the master); a request older than the one recorded
        is skipped, so that start and stop arriving together end in the state of the last.

    ensure_sorry
        Check that the sorry server answers first and, if not, start it with supervisord.

    bypass
        CIDRs (``10.1.2.0/24``, an address alone means one host) whose requests still reach
        the app servers while everyone else gets the page; at most 64, none wider than /8
        (IPv4) or /16 (IPv6), so never ``0.0.0.0/0`` or ``::/0``. Replaces the bypass of an
        earlier start; cleared by the stop that ends the maintenance.

    eta_at
        When maintenance should end, ISO 8601 with a zone (``2026-11-26T22:00:00+01:00``):
        the page shows it in the visitor's local time, and ``Retry-After`` is this instant as
        an HTTP-date while it lies ahead.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.start
        salt lb1 haproxy_maint.start backends='[app]' mode=drain drain_timeout=30 reason="Upgrade"
        salt lb1 haproxy_maint.start bypass='[192.0.2.0/28]' eta_at=2026-11-26T22:00:00Z
    """
    began = time.monotonic()
    cfg = config()
    backends = _check_backends(backends, cfg)
    if mode not in MODES:
        raise SaltInvocationError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    drain_timeout = _check_drain_timeout(drain_timeout, cfg)
    reason = _check_text(reason, "reason", REASON_MAX_LENGTH)
    eta = _check_text(eta, "eta", ETA_MAX_LENGTH)
    bypass = _check_bypass(bypass)
    eta_at = _check_eta_at(eta_at)
    if not backends:
        raise SaltInvocationError("this LB's pillar declares no backend with a sorry server")
    with _locked(cfg):
        record = read_record(cfg)
        if _superseded(record, stamp):
            return _outcome(began, "superseded", record, "a newer request is recorded")
        sorry = _ensure_sorry_server(cfg) if ensure_sorry else "not checked"
        live = __salt__["haproxy_runtime.server_status"](socket=_socket(cfg))
        changed, skipped = _plan_start(record, live, backends)
        was_active = record.get("active")
        record.update(
            active=True,
            backends=sorted(set(record["backends"] if was_active else []) | set(backends)),
            mode=mode,
            reason=reason,
            eta=eta,
            bypass=bypass,
            eta_at=eta_at,
            stamp=str(stamp) if stamp else record.get("stamp"),
            updated=time.time(),
        )
        for backend, servers in changed.items():
            record["changed"][backend] = sorted(
                set(record["changed"].get(backend, [])) | set(servers)
            )
        # Recorded before HAProxy is touched: whatever happens next, this is what a reload,
        # a restart or a returning minion will re-apply, and what stop will restore.
        _write_record(cfg, record)
        _write_page_status(cfg, record)
        # Before the servers move: from here on every new request of these backends gets the
        # page (or the bypass), also while drain mode waits.
        visitor = _apply_visitor(cfg, record)
        drain = _apply_start(cfg, changed, mode, drain_timeout)
        _save_state_file(cfg)
    state = "changed" if changed else "already in maintenance"
    result = _outcome(began, state, record, "", changed=changed, skipped=skipped, sorry=sorry)
    if drain is not None:
        result["drain"] = drain
    result["visitor"] = visitor
    return result


def stop(backends=None, stamp=None):
    """
    End maintenance on this LB: the servers that ``start`` moved go back to READY.

    Servers that were in MAINT or DRAIN before ``start`` stay as they were. Idempotent: a
    stop with no maintenance on changes nothing.

    backends
        Backend names; default every backend in maintenance.

    stamp
        The request's time stamp (set by the master); see :py:func:`start`.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.stop
    """
    began = time.monotonic()
    cfg = config()
    if backends is not None:
        backends = _check_backends(backends, cfg)
    with _locked(cfg):
        record = read_record(cfg)
        if _superseded(record, stamp):
            return _outcome(began, "superseded", record, "a newer request is recorded")
        if not record.get("active"):
            if stamp:
                record["stamp"] = str(stamp)
                _write_record(cfg, record)
            result = _outcome(began, "not in maintenance", record, "")
            result["visitor"] = _clear_stale_visitor(cfg, record)
            return result
        ending = list(record["backends"]) if backends is None else backends
        live = __salt__["haproxy_runtime.server_status"](socket=_socket(cfg))
        restored = {}
        for backend in ending:
            servers = [
                server
                for server in record["changed"].get(backend, [])
                if server in live.get(backend, {})
            ]
            if servers:
                restored[backend] = servers
        if restored:
            __salt__["haproxy_runtime.set_states"](_changes(restored, "ready"), socket=_socket(cfg))
        for backend in ending:
            record["changed"].pop(backend, None)
        record["backends"] = [name for name in record["backends"] if name not in ending]
        record["active"] = bool(record["backends"])
        if not record["active"]:
            record.update(reason="", eta="", mode="", bypass=[], eta_at="")
        if stamp:
            record["stamp"] = str(stamp)
        record["updated"] = time.time()
        _write_record(cfg, record)
        _write_page_status(cfg, record)
        # After the servers are READY again, so no request finds neither page nor app.
        visitor = _apply_visitor(cfg, record)
        _save_state_file(cfg)
    state = "changed" if restored else "nothing to restore"
    result = _outcome(began, state, record, "", changed=restored)
    result["visitor"] = visitor
    return result


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
    record = read_record()
    if not record.get("active"):
        cfg = config()
        with _locked(cfg):
            _clear_stale_visitor(cfg, read_record(cfg))
        return {"state": "not in maintenance", "changed": {}, "active": False}
    _wait_for_current_config(config())
    maintained = set(maintained_backends())
    backends = [name for name in record["backends"] if name in maintained]
    if not backends:
        return {"state": "no recorded backend is declared any more", "changed": {}, "active": True}
    return start(
        backends=backends,
        mode="maint",
        reason=record.get("reason"),
        eta=record.get("eta"),
        ensure_sorry=False,
        bypass=record.get("bypass"),
        eta_at=record.get("eta_at"),
    )


def _wait_for_current_config(cfg):
    """Wait (bounded) until the runtime socket is served by a worker started after the
    config file last changed: right after a reload the old worker may still answer, and it
    does not know a server that was just added or renamed."""
    try:
        changed_at = int(os.stat(cfg["haproxy"]["config_file"]).st_mtime)
    except OSError:
        return
    deadline = time.monotonic() + RELOAD_WAIT
    while True:
        try:
            started = __salt__["haproxy_runtime.show_info"](socket=_socket(cfg)).get(
                "Start_time_sec"
            )
        except CommandExecutionError:
            started = None  # the socket is briefly gone while the new worker binds it
        if isinstance(started, int) and started >= changed_at:
            return
        if time.monotonic() >= deadline:
            log.warning("no HAProxy worker newer than %s answered", cfg["haproxy"]["config_file"])
            return
        time.sleep(RELOAD_POLL_INTERVAL)


def would_change():
    """
    Say what :py:func:`reapply` would change, without changing anything (for ``test=True``).

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.would_change
    """
    cfg = config()
    record = read_record(cfg)
    if not record.get("active"):
        return {}
    live = __salt__["haproxy_runtime.server_status"](socket=_socket(cfg))
    backends = [name for name in record["backends"] if name in live]
    return _plan_start(record, live, backends)[0]


def _outcome(began, state, record, comment, changed=None, skipped=None, sorry=None):
    result = {
        "state": state,
        "active": bool(record.get("active")),
        "backends": list(record.get("backends", [])),
        "changed": changed or {},
        "bypass": list(record.get("bypass") or []),
        "eta_at": record.get("eta_at") or "",
        "duration_s": round(time.monotonic() - began, 4),
    }
    if skipped:
        result["left_alone"] = skipped
    if sorry is not None:
        result["sorry_server"] = sorry
    if comment:
        result["comment"] = comment
    return result


def status():
    """
    Return this LB's maintenance status: the record, and per backend each server's admin
    and operational state and current sessions, and whether the sorry server answers.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.status
    """
    cfg = config()
    record = read_record(cfg)
    result = {
        "env": cfg.get("env", ""),
        "maintenance": bool(record.get("active")),
        "backends_in_maintenance": record.get("backends", []),
        "reason": record.get("reason", ""),
        "eta": record.get("eta", ""),
        "eta_at": record.get("eta_at", ""),
        "bypass": record.get("bypass", []),
        # Whether a bypass secret is configured; the secret itself is never returned.
        "bypass_secret": bool(cfg["visitor"]["bypass"]["secret"]),
        "sorry_server": "up" if _sorry_answers(cfg) else "down",
        "backends": {},
    }
    try:
        live = __salt__["haproxy_runtime.server_status"](socket=_socket(cfg))
    except CommandExecutionError as err:
        result["haproxy"] = f"unreachable: {err}"
        return result
    result["haproxy"] = "up"
    for backend in maintained_backends(cfg):
        servers = live.get(backend)
        if servers is None:
            result["backends"][backend] = {"error": "not in the running HAProxy"}
            continue
        result["backends"][backend] = {
            server: {
                "admin": info["admin"],
                "status": info["status"],
                "sessions": info["sessions"],
                "backup": info["backup"],
            }
            for server, info in servers.items()
        }
    return result
