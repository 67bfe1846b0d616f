"""
Cluster maintenance, on the master: check who asks and what, fan the request out to every LB
of an environment, record it, report.

The reactor hands ``maint/start``, ``maint/stop``, ``maint/cancel`` and minion start events
to :py:func:`handle_event`. It proves the sender (a signature by the sender minion's accepted
key in a ``signed`` environment; the event's ``id`` in a ``minion-id`` one), checks it against
the environment's allow-list and every field against the request contract
(``_utils/haproxy_maint_contract.py``), records the environment's desired state, and calls
``haproxy_maint.start`` or ``.stop`` on the environment's LBs in one publish. The answer is a
``maint/result`` event (per-LB outcome, duration; for a stop, servers not UP) or a
``maint/rejected`` event (why, sender). A rejected request changes nothing.

Operators at the master call :py:func:`start`, :py:func:`stop`, :py:func:`cancel` and
:py:func:`status`; every function returns data, and ``salt-run`` exits non-zero (``retcode``)
when a request was rejected (2) or did not complete on every LB (1).

The desired state of each environment lives in Salt's cache (the master's ``cache:``
setting), ordered by the master's receive stamp, so an LB that was down catches up when its
minion starts, and a scheduled window (``at``, ``duration``) is applied by
:py:func:`run_windows`, which the master's scheduler calls.

Master configuration: ``docs/examples/master.d-haproxy_maint.conf``.
"""

import datetime
import fnmatch
import logging
import os
import re
import time

import salt.cache
import salt.client
import salt.fileclient
import salt.utils.event
import salt.utils.minions
import salt.utils.yaml
from salt.exceptions import CommandExecutionError, SaltCacheError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "haproxy_maint"

CONFIG_KEY = "haproxy_maint"
MINION_START_TAG = re.compile(r"salt/minion/([^/]+)/start")
ANSWER_TAG = "haproxy_maint/answer/{nonce}"
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
DEFAULT_TIMEOUT = 10
DEFAULT_GATHER_JOB_TIMEOUT = 2
DEFAULT_NOT_UP_WAIT = 30
DEFAULT_TARGET = "I@haproxy_maint:env:{env}"
DEFAULT_TRUST = "signed"
DEFAULT_SIGNATURE_WINDOW = 60
TRUST_LEVELS = ("signed", "minion-id")
DEFAULTS_URL = "salt://haproxy_maint/defaults.yaml"
DESIRED_BANK = "haproxy_maint/desired"
NONCE_FILE = "nonces.json"
RETCODE_OK = 0
RETCODE_INCOMPLETE = 1
RETCODE_REJECTED = 2
OPERATOR_TAGS = ("maint/start", "maint/stop", "maint/cancel")


class Rejected(Exception):
    """A request that must change nothing; its message says why."""


def __virtual__():
    # File_roots route: saltutil.sync_all; pip route: utils_dirs (Salt loads no extension utils).
    if "haproxy_maint_contract.parse" not in __utils__:
        return (
            False,
            "the haproxy_maint runner needs this project's _utils/ (see docs/install.md)",
        )
    return __virtualname__


def _util(name):
    return __utils__[name]


def _contract(name):
    return _util(f"haproxy_maint_contract.{name}")


# --- configuration -----------------------------------------------------------------------


def _config():
    return __opts__.get(CONFIG_KEY) or {}


def _environments():
    return _config().get("environments") or {}


def _environment(env):
    try:
        _contract("check_env")(env)
    except SaltInvocationError as err:
        raise Rejected(str(err)) from err
    environments = _environments()
    if env not in environments:
        known = ", ".join(sorted(environments)) or "none configured"
        raise Rejected(f"unknown env {env!r} (known: {known})")
    return environments[env] or {}


def _trust(env):
    trust = _environment(env).get("trust", DEFAULT_TRUST)
    if trust not in TRUST_LEVELS:
        raise Rejected(f"env {env!r} has trust {trust!r}; use one of {', '.join(TRUST_LEVELS)}")
    return trust


def _lbs(env):
    settings = _environment(env)
    target = settings.get("target") or DEFAULT_TARGET.format(env=env)
    tgt_type = settings.get("tgt_type") or "compound"
    found = salt.utils.minions.CkMinions(__opts__).check_minions(target, tgt_type)
    return sorted(found.get("minions", []))


def _state_dir():
    return _config().get("state_dir") or os.path.join(__opts__["cachedir"], "haproxy_maint")


def _timeout(action):
    timeout = _config().get("timeout", DEFAULT_TIMEOUT)
    if action == "stop":
        timeout += _config().get("not_up_wait", DEFAULT_NOT_UP_WAIT)
    return timeout


# --- what the LBs declare ----------------------------------------------------------------


def _lb_defaults():
    """``defaults.yaml`` of the state tree, from the master's own fileserver."""
    if "haproxy_maint.defaults" not in __context__:
        client = salt.fileclient.FSClient(__opts__)
        try:
            path = client.cache_file(DEFAULTS_URL)
        finally:
            client.destroy()
        if not path:
            raise Rejected(f"{DEFAULTS_URL} is not on the master's fileserver")
        with open(path, encoding="utf-8") as handle:
            __context__["haproxy_maint.defaults"] = salt.utils.yaml.safe_load(handle)[CONFIG_KEY]
    return __context__["haproxy_maint.defaults"]


def _cached_pillar(cache, minion):
    # Salt 3008 keeps a bank per kind ("pillar"); 3007 one per minion ("minions/<id>").
    pillar = cache.fetch("pillar", minion)
    if not pillar:
        pillar = (cache.fetch(f"minions/{minion}", "data") or {}).get("pillar")
    return pillar if isinstance(pillar, dict) else {}


def _lb_config(cache, minion):
    pillar = _cached_pillar(cache, minion).get(CONFIG_KEY)
    try:
        return _util("haproxy_maint_contract.lb_config")(_lb_defaults(), pillar)
    except SaltInvocationError as err:
        raise Rejected(f"the pillar of {minion} is not valid: {err}") from err


def _declared(lbs):
    """Maintained backends (union over the LBs) and the sorry servers' names."""
    cache = salt.cache.factory(__opts__)
    backends, sorry_names = set(), set()
    for minion in lbs:
        config = _lb_config(cache, minion)
        backends.update(_util("haproxy_maint_contract.maintained_backends")(config))
        sorry_names.add(config["sorry_server"]["name"])
    return backends, sorry_names


def _check_backend_names(names, lbs):
    if names is None:
        return
    declared, sorry_names = _declared(lbs)
    for name in names:
        if name in sorry_names:
            raise Rejected(f"{name!r} is the sorry server, not a backend")
        if name not in declared:
            raise Rejected(
                f"unknown backend {name!r} (maintained: {', '.join(sorted(declared)) or 'none'})"
            )


# --- who asks ----------------------------------------------------------------------------


def _check_allowed(sender, env):
    allow = _environment(env).get("allow") or []
    if isinstance(allow, str):
        allow = [allow]
    if not isinstance(sender, str) or not sender:
        raise Rejected("the request has no sender id")
    if not any(fnmatch.fnmatchcase(sender, str(pattern)) for pattern in allow):
        raise Rejected(f"sender {sender!r} may not trigger maintenance in env {env!r}")


def _prove_sender(tag, event_id, fields, envelope, env):
    """The sender the request proves: the signer under ``signed``, else the event's id."""
    signing = "haproxy_maint_signing"
    if envelope is None:
        if _trust(env) == "signed":
            raise Rejected(
                f"env {env!r} accepts signed requests only; on an allowed minion run "
                f"salt-call haproxy_maint.request {tag.split('/')[1]} env={env}"
            )
        return event_id
    window = _config().get("signature_window", DEFAULT_SIGNATURE_WINDOW)
    try:
        sender = _util(f"{signing}.verify")(tag, fields, envelope, __opts__["pki_dir"], window)
        if sender != event_id:
            raise Rejected(f"the request was signed by {sender!r} but sent as {event_id!r}")
        _remember_nonce(envelope["nonce"], window)
    except SaltInvocationError as err:
        raise Rejected(str(err)) from err
    return sender


def _remember_nonce(nonce, window):
    """Record a signed request's nonce; refuse one seen within the window (a replay). The
    record is a file under the state dir, locked while read and written (reactor threads and
    salt-run calls), pruned of old nonces, and kept across a master restart."""
    path = os.path.join(_state_dir(), NONCE_FILE)
    now = time.time()
    with _util("haproxy_maint_files.locked")(path + ".lock", dir_mode=0o700):
        try:
            seen = _util("haproxy_maint_files.read_json")(path, default={})
        except CommandExecutionError:
            seen = {}  # a damaged record is replaced; its entries expire within the window
        seen = {
            key: when
            for key, when in seen.items()
            if isinstance(when, (int, float)) and now - when <= 2 * window
        }
        if nonce in seen:
            raise Rejected("this signed request was seen before (a replay)")
        seen[nonce] = now
        _util("haproxy_maint_files.write_json")(path, seen, mode=0o600, dir_mode=0o700)


# --- desired state -----------------------------------------------------------------------


def _cache():
    return salt.cache.factory(__opts__)


# The desired state of an environment is a last-writer-wins register over the masters: each
# master stores its latest record under its own id (bank haproxy_maint/desired/<env>), and a
# reader takes the record with the newest stamp. Masters sharing the cache (Redis, Consul ...)
# never overwrite each other, so no write can go back; they need synchronised clocks.


def _desired_bank(env):
    return f"{DESIRED_BANK}/{env}"


def _cache_unavailable(err):
    # Salt's cache factory raises KeyError for a driver whose module did not load (e.g.
    # cache: redis without the redis client).
    driver = __opts__.get("cache", "localfs")
    return f"the master's cache driver {driver!r} is not available ({err}); see docs/install.md"


def _read_desired(env):
    bank = _desired_bank(env)
    cache = _cache()
    try:
        records = [cache.fetch(bank, master) for master in sorted(cache.list(bank))]
    except SaltCacheError as err:
        raise Rejected(f"cannot read the desired state of env {env!r}: {err}") from err
    except KeyError as err:
        raise Rejected(_cache_unavailable(err)) from err
    records = [record for record in records if isinstance(record, dict) and record]
    if not records:
        return {"active": False}
    return dict(max(records, key=lambda record: str(record.get("stamp") or "")))


def _write_desired(env, desired):
    """Store this master's record, unless a newer one is known (a write never goes back)."""
    current = _read_desired(env)
    if current.get("stamp") and desired.get("stamp") and desired["stamp"] < current["stamp"]:
        return False
    try:
        _cache().store(_desired_bank(env), __opts__["id"], desired)
    except SaltCacheError as err:
        raise Rejected(f"cannot record the desired state of env {env!r}: {err}") from err
    except KeyError as err:
        raise Rejected(_cache_unavailable(err)) from err
    return True


def _env_lock(env):
    """One request per environment at a time, across reactor threads and salt-run calls."""
    path = os.path.join(_state_dir(), f"{env}.lock")
    return _util("haproxy_maint_files.locked")(path, dir_mode=0o700)


# --- fan-out -----------------------------------------------------------------------------


def _fire(tag, data):
    with salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False) as event:
        event.fire_event(data, tag)


def _answer(minion, nonce, data):
    """Send the outcome back to the minion that asked (its ``request`` call waits for it)."""
    if not minion or not nonce:
        return
    try:
        with salt.client.LocalClient(mopts=__opts__) as client:
            client.cmd_async(
                minion, "event.fire", [data, ANSWER_TAG.format(nonce=nonce)], tgt_type="list"
            )
    except Exception as err:  # the answer is a courtesy; the maint/result event stands
        log.warning("could not send the answer to %s: %s", minion, err)


# LocalClients not in use, kept for the next request: building one builds three loaders (tens
# of ms per request; the benchmark measured it), as Salt's own reactor knows, which keeps its
# LocalClient. One client serves one request at a time (reactor threads run requests of
# different environments at once); list.pop and list.append are atomic.
_IDLE_CLIENTS = []


def _call_lbs(lbs, fun, kwargs, timeout):
    """Run ``fun`` on the LBs in one publish; return ``{lb: outcome}`` for every LB."""
    if not lbs:
        return {}
    gather = _config().get("gather_job_timeout", DEFAULT_GATHER_JOB_TIMEOUT)
    try:
        client = _IDLE_CLIENTS.pop()
    except IndexError:
        client = salt.client.LocalClient(mopts=__opts__)
    try:
        returns = client.cmd(
            lbs,
            fun,
            kwarg=kwargs,
            tgt_type="list",
            timeout=timeout,
            full_return=True,
            gather_job_timeout=gather,
        )
    except BaseException:
        client.destroy()
        raise
    _IDLE_CLIENTS.append(client)
    outcomes = {}
    for lb in lbs:
        answer = returns.get(lb)
        if not isinstance(answer, dict) or "ret" not in answer or answer.get("failed"):
            outcomes[lb] = {"outcome": "did not answer"}
            continue
        if answer.get("out") == "no_return":
            # Salt's own word for a minion that is not connected or did not respond in time.
            why = str(answer["ret"]).split("\n", 1)[0]
            outcomes[lb] = {"outcome": "did not answer", "why": why}
            continue
        ret = answer["ret"]
        if answer.get("retcode", 0) == 0 and isinstance(ret, dict):
            outcomes[lb] = {"outcome": "ok", **ret}
        else:
            outcomes[lb] = {"outcome": "failed", "why": str(ret).strip()}
    return outcomes


def _lb_kwargs(action, params, stamp):
    keys = ("backends", "test")
    if action == "start":
        keys += ("mode", "drain_timeout", "reason", "eta", "eta_at", "bypass")
    kwargs = {key: params[key] for key in keys if params.get(key) not in (None, [], "", False)}
    if stamp:
        kwargs["stamp"] = stamp
    return kwargs


def _run(action, env, params, sender, stamp, lbs=None, record=True):
    """Record the desired state, apply it to the LBs, fire ``maint/result``, return it."""
    began = time.monotonic()
    # A catch-up (record=False) of an environment with no record has no request to be ordered
    # by: stamped "now", it would make the LB refuse a request received before it.
    stamp = stamp or (_stamp() if record else None)
    test = bool(params.get("test"))
    with _env_lock(env):
        current = _read_desired(env)
        if record and current.get("stamp") and stamp < current["stamp"]:
            return _result(action, env, sender, stamp, began, {}, "superseded", test)
        if lbs is None:
            lbs = _lbs(env)
        if not lbs:
            raise Rejected(f"no LB matches env {env!r}; nothing recorded")
        _check_backend_names(params.get("backends"), lbs)
        wanted = _next_desired(current, action, params, sender, stamp, lbs)
        if record and not test and not _write_desired(env, wanted):
            # Another master recorded a newer request between our read and our write.
            return _result(action, env, sender, stamp, began, {}, "superseded", test)
        recorded = time.monotonic()
        outcomes = _call_lbs(
            lbs, f"haproxy_maint.{action}", _lb_kwargs(action, params, stamp), _timeout(action)
        )
    result = _result(action, env, sender, stamp, began, outcomes, None, test)
    # Where the time went, for the benchmark and for an operator reading a slow result.
    result["timings"] = {
        "target_and_record_s": round(recorded - began, 4),
        "publish_and_returns_s": round(time.monotonic() - recorded, 4),
    }
    return result


def _next_desired(current, action, params, sender, stamp, lbs):
    """The environment's desired state after ``action``; ``backends: None`` means all."""
    backends = params.get("backends")
    if action == "start":
        if current.get("active") and backends is not None:
            backends = None if current.get("backends") is None else current["backends"] + backends
        desired = {
            "active": True,
            "backends": None if backends is None else sorted(set(backends)),
            "stamp": stamp,
            "by": sender,
        }
        for key in ("mode", "reason", "eta", "eta_at"):
            desired[key] = params.get(key) or ("maint" if key == "mode" else "")
        desired["bypass"] = params.get("bypass") or []
        window = _kept_window(current, ending=False)
        if window:
            desired["window"] = window
        return desired
    remaining = []
    if backends is not None and current.get("active"):
        before = current.get("backends")
        if before is None:
            before = sorted(_declared(lbs)[0])
        remaining = [name for name in before if name not in backends]
    wanted = {"active": bool(remaining), "backends": remaining, "stamp": stamp, "by": sender}
    if remaining:
        for key in ("mode", "reason", "eta", "eta_at", "bypass"):
            if current.get(key):
                wanted[key] = current[key]
    window = _kept_window(current, ending=not remaining)
    if window:
        wanted["window"] = window
    return wanted


def _kept_window(current, ending):
    """A pending window (not started yet) outlives any start or stop: only ``cancel`` drops
    it. A running window (its end recorded) ends with the maintenance it belongs to."""
    window = current.get("window") or {}
    if window.get("start_at"):
        return window
    if window.get("end_at") and current.get("active") and not ending:
        return window
    return None


def _result(action, env, sender, stamp, began, outcomes, state, test):
    failed = sorted(lb for lb, out in outcomes.items() if out["outcome"] != "ok")
    state = state or ("incomplete" if failed else "planned" if test else "ok")
    result = {
        "action": action,
        "env": env,
        "sender": sender,
        "stamp": stamp,
        "test": test,
        "result": state in ("ok", "planned", "superseded"),
        "state": state,
        "lbs": outcomes,
        "failed": failed,
        "duration_s": round(time.monotonic() - began, 4),
        "retcode": RETCODE_INCOMPLETE if failed else RETCODE_OK,
    }
    if action == "stop":
        not_up = {lb: out["not_up"] for lb, out in outcomes.items() if out.get("not_up")}
        result["not_up"] = not_up
    return result


def _stamp(when=None):
    """A fixed-width UTC time stamp, so that stamps order as strings."""
    when = when or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return when.strftime(STAMP_FORMAT)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _rejected(tag, sender, why, fields):
    data = {"tag": tag, "sender": sender, "why": why}
    if isinstance(fields, dict) and isinstance(fields.get("env"), str):
        data["env"] = fields["env"][:64]
    log.warning("rejected %s from %s: %s", tag, sender, why)
    _fire("maint/rejected", data)
    return {"result": False, "state": "rejected", "retcode": RETCODE_REJECTED, **data}


# --- requests ----------------------------------------------------------------------------


def _parse(tag, fields):
    try:
        return _contract("parse")(tag, fields, _config().get("default_env"))
    except SaltInvocationError as err:
        raise Rejected(str(err)) from err


def _act(tag, action, env, params, sender, stamp):
    """Do what a valid request asks: now, or as a scheduled window."""
    stamp = stamp or _stamp()
    if action == "cancel":
        return _cancel_window(env, sender, stamp)
    if action == "start" and (params.get("at") or params.get("duration")):
        return _start_window(env, params, sender, stamp)
    return _run(action, env, params, sender, stamp)


def _request(tag, data, stamp):
    """A request from the event bus: prove the sender, check, act, answer."""
    event_id = data.get("id")
    fields = data.get("data")
    if isinstance(fields, dict):
        # salt-call adds its own __pub_* job keys to what event.send fires; they are Salt's.
        fields = {key: value for key, value in fields.items() if not str(key).startswith("__pub_")}
    envelope = fields.pop("signature", None) if isinstance(fields, dict) else None
    sender, proven = event_id, False
    try:
        action, env, params = _parse(tag, fields)
        sender = _prove_sender(tag, event_id, fields, envelope, env)
        proven = envelope is not None
        _check_allowed(sender, env)
        result = _act(tag, action, env, params, sender, stamp)
    except Rejected as err:
        result = _rejected(tag, sender, str(err), fields)
        # Only a sender that the signature proved gets an answer: a forged event must not make
        # the master publish to a minion of the forger's choosing.
        if proven:
            _answer(sender, envelope["nonce"], result)
        return result
    _fire("maint/result", result)
    if proven:
        _answer(sender, envelope["nonce"], result)
    return result


def handle_event(tag, data):
    """
    Act on an event that the reactor hands over: ``maint/start``, ``maint/stop``,
    ``maint/cancel`` or a minion start. Any other tag is ignored (nothing is fired, so a
    broad reactor glob cannot loop).

    tag
        The event tag.

    data
        The whole event data as the master received it: the sender's fields are under
        ``data``, the Salt-authenticated id of a single event is ``id``.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.handle_event maint/start '{"id": "ops-1", "data": {"env": "dev"}}'
    """
    tag = str(tag)
    minion_start = MINION_START_TAG.fullmatch(tag)
    if minion_start:
        return catch_up(minion_start.group(1))
    if tag not in OPERATOR_TAGS:
        return {
            "result": False,
            "state": "ignored",
            "why": f"not a tag of haproxy_maint: {tag[:100]}",
        }
    if not isinstance(data, dict):
        return _rejected(tag, None, "the event is not a mapping", None)
    return _request(tag, data, _event_stamp(data))


def _event_stamp(data):
    # The master's receive time orders requests; a sender cannot set it.
    try:
        return _stamp(datetime.datetime.fromisoformat(str(data["_stamp"])))
    except (KeyError, ValueError):
        return _stamp()


def catch_up(minion_id):
    """
    Bring one returning LB to its environment's desired maintenance state. Reads only that
    minion's cached pillar (``haproxy_maint:env``), so a fleet-wide restart costs one read per
    minion; a minion that is not an LB of a configured environment returns at once.

    minion_id
        The LB's minion id.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.catch_up lb3
    """
    pillar = _cached_pillar(_cache(), minion_id).get(CONFIG_KEY) or {}
    env = pillar.get("env") if isinstance(pillar, dict) else None
    if not isinstance(env, str) or env not in _environments():
        return {"result": True, "state": "not an LB", "minion": minion_id}
    try:
        _environment(env)
        wanted = _read_desired(env)
        if wanted.get("active"):
            params = {key: wanted.get(key) for key in ("backends", "reason", "eta", "eta_at")}
            params.update(mode="maint", bypass=wanted.get("bypass") or [])
            action = "start"
        else:
            params, action = {"backends": None}, "stop"
        result = _run(
            action, env, params, f"catch-up:{minion_id}", wanted.get("stamp"), [minion_id], False
        )
    except Rejected as err:
        return _rejected(f"catch-up {minion_id}", "master", str(err), {"env": env})
    _fire("maint/result", result)
    return result


# --- scheduled windows -------------------------------------------------------------------


def _start_window(env, params, sender, stamp):
    now = _now()
    at = params.get("at")
    begins = _parse_utc(at) if at else now
    window = {"start_at": at if at and begins > now else "", "end_at": ""}
    if params.get("duration"):
        ends = begins + datetime.timedelta(seconds=params["duration"])
        window["end_at"] = _contract("format_time")(ends)
        # The page's ETA and the visitor's Retry-After follow the window's end.
        params = {**params, "eta_at": params.get("eta_at") or window["end_at"]}
    if not window["start_at"]:
        result = _run("start", env, params, sender, stamp)
        if not params.get("test"):
            with _env_lock(env):
                desired = _read_desired(env)
                if desired.get("active") and desired.get("stamp") == result["stamp"]:
                    desired["window"] = window
                    _write_desired(env, desired)
        return {**result, "window": window}
    if not params.get("test"):
        with _env_lock(env):
            desired = _read_desired(env)
            desired["window"] = {**window, "params": _window_params(params), "by": sender}
            desired["stamp"] = stamp or _stamp()
            _write_desired(env, desired)
    return {
        "action": "start",
        "env": env,
        "sender": sender,
        "stamp": stamp,
        "result": True,
        "state": "planned" if params.get("test") else "scheduled",
        "test": bool(params.get("test")),
        "window": window,
        "retcode": RETCODE_OK,
    }


def _window_params(params):
    return {key: value for key, value in params.items() if key not in ("at", "duration", "test")}


def _cancel_window(env, sender, stamp):
    with _env_lock(env):
        desired = _read_desired(env)
        window = desired.get("window") or {}
        if not window.get("start_at"):
            raise Rejected(
                f"env {env!r} has no pending window (a running maintenance ends with stop)"
            )
        desired.pop("window")
        desired["stamp"] = stamp or _stamp()
        _write_desired(env, desired)
    return {
        "action": "cancel",
        "env": env,
        "sender": sender,
        "result": True,
        "state": "cancelled",
        "window": window,
        "retcode": RETCODE_OK,
    }


def run_windows():
    """
    Start the windows whose ``at`` has come and end those whose ``duration`` is over. The
    master's scheduler calls this every few seconds (see the example master config); the
    windows are kept with the desired state, so they survive a master restart.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.run_windows
    """
    done = {}
    now = _now()
    for env in sorted(_environments()):
        try:
            _environment(env)
            window = _read_desired(env).get("window") or {}
            if window.get("start_at") and _parse_utc(window["start_at"]) <= now:
                params = {"backends": None, "test": False, **window.get("params", {})}
                result = _run("start", env, params, window.get("by", "window"), _stamp())
                with _env_lock(env):
                    desired = _read_desired(env)
                    if desired.get("active"):
                        desired["window"] = {"start_at": "", "end_at": window.get("end_at", "")}
                        _write_desired(env, desired)
                _fire("maint/result", result)
                done[env] = result
            elif (
                window.get("end_at")
                and not window.get("start_at")
                and _parse_utc(window["end_at"]) <= now
            ):
                result = _run("stop", env, {"backends": None}, "window", _stamp())
                _fire("maint/result", result)
                done[env] = result
        except Rejected as err:
            done[env] = _rejected("window", "master", str(err), {"env": env})
    return done


def _parse_utc(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- operator entry points ---------------------------------------------------------------


def _operator(tag, fields):
    fields = {key: value for key, value in fields.items() if value is not None}
    sender = f"master:{__opts__.get('user') or 'root'}"
    try:
        action, env, params = _parse(tag, fields)
        _environment(env)
        # An operator at the master is trusted: all but the allow-list is checked.
        result = _act(tag, action, env, params, sender, None)
    except Rejected as err:
        return _rejected(tag, sender, str(err), fields)
    _fire("maint/result", result)
    return result


def start(
    env=None,
    backends=None,
    mode=None,
    drain_timeout=None,
    reason=None,
    eta=None,
    eta_at=None,
    bypass=None,
    at=None,
    duration=None,
    test=False,
):
    """
    Start maintenance on every LB of ``env``, from the master (same checks as the event, but
    the allow-list). Exits non-zero when rejected (2) or incomplete (1).

    env
        Environment; default ``default_env`` of the master config.

    backends
        Backend names; default every backend with a sorry server.

    mode
        ``maint`` (default) or ``drain``.

    drain_timeout
        Seconds, with ``mode=drain``.

    reason, eta
        Text for the maintenance page; quote values YAML would type (``eta='"22:00"'``).

    eta_at
        When maintenance should end, ISO 8601 with a zone: the page's local time and the
        visitors' ``Retry-After``.

    bypass
        CIDRs that still reach the app.

    at
        Start later, ISO 8601 with a zone (a pending window; ``cancel`` drops it).

    duration
        End by itself after this long: ``90m``, ``2h`` or seconds.

    test
        Show per LB, backend and server what would change; change and record nothing.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.start prod reason="Database upgrade" eta='"22:00 UTC"'
        salt-run haproxy_maint.start prod test=True
        salt-run haproxy_maint.start prod at=2026-11-28T02:00:00Z duration=2h
    """
    fields = {"env": env, "backends": backends, "mode": mode, "drain_timeout": drain_timeout}
    fields.update(reason=reason, eta=eta, eta_at=eta_at, bypass=bypass, at=at)
    fields.update(duration=duration, test=test or None)
    return _operator("maint/start", fields)


def stop(env=None, backends=None, test=False):
    """
    End maintenance on every LB of ``env``, from the master. The result lists, per LB, the
    restored servers that are not UP after a bounded wait (``not_up``). Exits non-zero when
    rejected (2) or incomplete (1).

    env
        Environment; default ``default_env`` of the master config.

    backends
        Backend names; default every backend in maintenance.

    test
        Show what would be restored; change and record nothing.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.stop prod
    """
    return _operator("maint/stop", {"env": env, "backends": backends, "test": test or None})


def cancel(env=None):
    """
    Cancel the pending (not yet started) maintenance window of ``env``.

    env
        Environment; default ``default_env`` of the master config.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.cancel prod
    """
    return _operator("maint/cancel", {"env": env})


def desired(env):
    """
    Return the desired maintenance state that the masters keep for ``env`` (with its
    window, if any).

    env
        Environment name.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.desired prod
    """
    try:
        _environment(env)
        return _read_desired(env)
    except Rejected as err:
        return {"result": False, "why": str(err), "retcode": RETCODE_REJECTED}


def status(env=None):
    """
    Every LB of ``env`` (or of every environment): per backend, each server's admin and
    operational state and sessions, the sorry server's health, the maintenance flag, the
    bypass and any window. Returns data; ``salt-run`` shows it as a table (the
    ``haproxy_maint`` outputter), ``--out=json`` gives the data. Exits 1 when an LB did not
    answer, 2 for an unknown env.

    env
        Environment; default every configured one.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.status
        salt-run haproxy_maint.status prod --out=json
    """
    report = {"envs": {}, "retcode": RETCODE_OK}
    try:
        envs = [env] if env is not None else sorted(_environments())
        for name in envs:
            _environment(name)
            lbs = _lbs(name)
            outcomes = _call_lbs(lbs, "haproxy_maint.status", {}, _timeout("status"))
            report["envs"][name] = {"desired": _read_desired(name), "lbs": outcomes}
            if any(out["outcome"] != "ok" for out in outcomes.values()):
                report["retcode"] = RETCODE_INCOMPLETE
    except Rejected as err:
        report.update(result=False, why=str(err), retcode=RETCODE_REJECTED)
    report.setdefault("result", report["retcode"] == RETCODE_OK)
    return {"outputter": "haproxy_maint", "data": report}
