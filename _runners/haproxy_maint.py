"""
Cluster maintenance, on the master: validate a request, fan it out to every LB of an
environment, and report.

The reactor hands every ``maint/start``, ``maint/stop`` and minion start event to
:py:func:`handle_event`. It checks the sender (the minion id that Salt authenticated, never a
field of the data) against the environment's allow-list, checks every field, and then calls
``haproxy_maint.start`` or ``.stop`` on the environment's LBs in one publish. The answer is a
``maint/result`` event (per-LB outcome, duration) or a ``maint/rejected`` event (why, sender).

The master keeps the desired state of each environment, so an LB that was down comes back to
it when its minion starts. Requests for one environment are serialised by a lock, and one
older than the recorded one is skipped, so every LB ends in the state of the last request.

Master configuration (``/etc/salt/master.d/haproxy_maint.conf``):

.. code-block:: yaml

    haproxy_maint:
      default_env: prod
      timeout: 10
      environments:
        prod:
          allow: ['ops-*', 'ci-runner']
          target: 'I@haproxy_maint:env:prod'
          tgt_type: compound
"""

import contextlib
import datetime
import fcntl
import fnmatch
import json
import logging
import os
import re
import tempfile
import time

import salt.cache
import salt.client
import salt.utils.event
import salt.utils.minions
from salt.exceptions import SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "haproxy_maint"

CONFIG_KEY = "haproxy_maint"
START_TAG = "maint/start"
STOP_TAG = "maint/stop"
RESULT_TAG = "maint/result"
REJECTED_TAG = "maint/rejected"
MINION_START_TAG = re.compile(r"salt/minion/([^/]+)/start")
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
DEFAULT_TIMEOUT = 10
DEFAULT_GATHER_JOB_TIMEOUT = 2
DEFAULT_TARGET = "I@haproxy_maint:env:{env}"
ENV_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
MAX_BACKENDS = 200
REASON_MAX_LENGTH = 500
ETA_MAX_LENGTH = 100
DRAIN_TIMEOUT_MAX = 3600
SORRY_SERVER_NAME = "localhost"
FIELDS = {
    START_TAG: ("env", "backends", "mode", "drain_timeout", "reason", "eta"),
    STOP_TAG: ("env", "backends"),
}
ACTIONS = {START_TAG: "start", STOP_TAG: "stop"}


class Rejected(SaltInvocationError):
    """A request that must change nothing; its message says why."""


def __virtual__():
    return __virtualname__


# --- configuration -----------------------------------------------------------------------


def _config():
    return __opts__.get(CONFIG_KEY) or {}


def _environment(env):
    environments = _config().get("environments") or {}
    if env not in environments:
        known = ", ".join(sorted(environments)) or "none configured"
        raise Rejected(f"unknown env {env!r} (known: {known})")
    return environments[env] or {}


def _target(env):
    settings = _environment(env)
    target = settings.get("target") or DEFAULT_TARGET.format(env=env)
    return target, settings.get("tgt_type") or "compound"


def _lbs(env):
    target, tgt_type = _target(env)
    found = salt.utils.minions.CkMinions(__opts__).check_minions(target, tgt_type)
    return sorted(found.get("minions", []))


def _state_dir():
    return _config().get("state_dir") or os.path.join(__opts__["cachedir"], "haproxy_maint")


# --- validation --------------------------------------------------------------------------


def _check_sender(sender, env):
    allow = _environment(env).get("allow") or []
    if isinstance(allow, str):
        allow = [allow]
    if not isinstance(sender, str) or not sender:
        raise Rejected("the event has no authenticated sender id")
    if not any(fnmatch.fnmatchcase(sender, pattern) for pattern in allow):
        raise Rejected(f"sender {sender!r} may not trigger maintenance in env {env!r}")


def _check_text(fields, name, limit):
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Rejected(f"{name} must be text, not {type(value).__name__}")
    if len(value) > limit:
        raise Rejected(f"{name} is longer than {limit} characters")
    if any(ord(char) < 32 and char != "\t" for char in value):
        raise Rejected(f"{name} must not hold control characters or newlines")
    return value


def _declared_backends(lbs):
    """Backends (with a sorry server) and sorry server names from the LBs' cached pillar."""
    cache = salt.cache.factory(__opts__)
    backends, sorry_names = set(), {SORRY_SERVER_NAME}
    for minion in lbs:
        cfg = _cached_pillar(cache, minion).get("haproxy_maint") or {}
        for name, backend in ((cfg.get("haproxy") or {}).get("backends") or {}).items():
            if (backend or {}).get("sorry", True) is not False:
                backends.add(name)
        sorry_names.add((cfg.get("sorry_server") or {}).get("name") or SORRY_SERVER_NAME)
    return backends, sorry_names


def _cached_pillar(cache, minion):
    # Salt 3008 keeps a bank per kind ("pillar"); 3007 one per minion ("minions/<id>").
    pillar = cache.fetch("pillar", minion)
    if not pillar:
        pillar = (cache.fetch(f"minions/{minion}", "data") or {}).get("pillar")
    return pillar if isinstance(pillar, dict) else {}


def _check_backends(value, env):
    if value is None:
        return None
    if not isinstance(value, list):
        raise Rejected(f"backends must be a list of backend names, not {type(value).__name__}")
    if not value:
        raise Rejected("backends is an empty list; leave it out to mean every backend")
    if len(value) > MAX_BACKENDS:
        raise Rejected(f"backends lists more than {MAX_BACKENDS} names")
    for name in value:
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise Rejected(
                f"invalid backend name {name!r}: use letters, digits, '-', '_', '.' or ':'"
            )
    declared, sorry_names = _declared_backends(_lbs(env))
    for name in value:
        if name in sorry_names:
            raise Rejected(f"{name!r} is the sorry server, not a backend")
        if declared and name not in declared:
            raise Rejected(f"unknown backend {name!r} (declared: {', '.join(sorted(declared))})")
    return sorted(set(value))


def validate(tag, fields, sender, check_sender=True):
    """
    Check a request and return ``(action, env, params)``; raise :py:exc:`Rejected` (a
    ``SaltInvocationError``) saying why when anything is off.

    tag
        ``maint/start`` or ``maint/stop``.

    fields
        The request's data (what the sender wrote).

    sender
        The authenticated minion id (the event's top-level ``id``), or the operator's
        name when called at the master.

    check_sender
        Check ``sender`` against the environment's allow-list (default True).

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.validate maint/start '{"env": "prod"}' ops-1
    """
    if tag not in FIELDS:
        raise Rejected(f"unknown tag {tag!r}")
    if not isinstance(fields, dict):
        raise Rejected(f"the event data must be a mapping, not {type(fields).__name__}")
    unknown = sorted(str(key) for key in fields if key not in FIELDS[tag])
    if unknown:
        raise Rejected(f"unknown fields: {', '.join(unknown)} (allowed: {', '.join(FIELDS[tag])})")
    env = fields.get("env", _config().get("default_env"))
    if env is None:
        raise Rejected("env is missing and no default_env is configured")
    if not isinstance(env, str) or not ENV_PATTERN.fullmatch(env):
        raise Rejected(f"invalid env {env!r}")
    _environment(env)
    if check_sender:
        _check_sender(sender, env)
    params = {"backends": _check_backends(fields.get("backends"), env)}
    if tag == START_TAG:
        mode = fields.get("mode", "maint")
        if mode not in ("maint", "drain"):
            raise Rejected(f"mode must be 'maint' or 'drain', not {mode!r}")
        params["mode"] = mode
        if "drain_timeout" in fields:
            timeout = fields["drain_timeout"]
            if mode != "drain":
                raise Rejected("drain_timeout is only for mode 'drain'")
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise Rejected("drain_timeout must be a number of seconds")
            if not 0 <= timeout <= DRAIN_TIMEOUT_MAX:
                raise Rejected(f"drain_timeout must be between 0 and {DRAIN_TIMEOUT_MAX}")
            params["drain_timeout"] = timeout
        params["reason"] = _check_text(fields, "reason", REASON_MAX_LENGTH)
        params["eta"] = _check_text(fields, "eta", ETA_MAX_LENGTH)
    return ACTIONS[tag], env, params


# --- desired state -----------------------------------------------------------------------


def _desired_path(env):
    return os.path.join(_state_dir(), f"{env}.json")


def _read_desired(env):
    try:
        with open(_desired_path(env), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {"active": False}


def _write_desired(env, desired):
    directory = _state_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{env}.", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(desired, handle, indent=1, sort_keys=True)
    os.replace(tmp, _desired_path(env))


@contextlib.contextmanager
def _env_lock(env):
    """One request per environment at a time, across reactor threads and salt-run calls."""
    os.makedirs(_state_dir(), mode=0o700, exist_ok=True)
    with open(os.path.join(_state_dir(), f"{env}.lock"), "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def desired(env):
    """
    Return the desired maintenance state that the master keeps for ``env``.

    env
        Environment name.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.desired prod
    """
    return _read_desired(env)


# --- fan-out -----------------------------------------------------------------------------


def _fire(tag, data):
    with salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False) as event:
        event.fire_event(data, tag)


def _call_lbs(lbs, fun, kwargs):
    """Run ``fun`` on the LBs in one publish; return ``{lb: outcome}`` for every LB."""
    if not lbs:
        return {}
    timeout = _config().get("timeout", DEFAULT_TIMEOUT)
    gather = _config().get("gather_job_timeout", DEFAULT_GATHER_JOB_TIMEOUT)
    with salt.client.LocalClient(mopts=__opts__) as client:
        returns = client.cmd(
            lbs,
            fun,
            kwarg=kwargs,
            tgt_type="list",
            timeout=timeout,
            full_return=True,
            gather_job_timeout=gather,
        )
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


def _run(action, env, params, sender, stamp, lbs=None, record=True):
    """Record the desired state, apply it to the LBs, fire ``maint/result``, return it."""
    began = time.monotonic()
    stamp = stamp or _stamp()
    with _env_lock(env):
        current = _read_desired(env)
        if record and current.get("stamp") and stamp < current["stamp"]:
            result = _result(action, env, sender, stamp, began, {}, "superseded")
            _fire(RESULT_TAG, result)
            return result
        if lbs is None:
            lbs = _lbs(env)
        if record:
            _write_desired(env, _next_desired(current, action, params, sender, stamp, lbs))
        kwargs = {key: value for key, value in params.items() if value is not None}
        kwargs["stamp"] = stamp
        recorded = time.monotonic()
        outcomes = _call_lbs(lbs, f"haproxy_maint.{action}", kwargs)
    result = _result(action, env, sender, stamp, began, outcomes)
    # Where the time went, for the benchmark and for an operator reading a slow result.
    result["timings"] = {
        "target_and_record_s": round(recorded - began, 4),
        "publish_and_returns_s": round(time.monotonic() - recorded, 4),
    }
    _fire(RESULT_TAG, result)
    return result


def _next_desired(current, action, params, sender, stamp, lbs):
    """The environment's desired state after ``action``; ``backends: None`` means all."""
    backends = params.get("backends")
    if action == "start":
        if current.get("active") and backends is not None:
            backends = None if current.get("backends") is None else current["backends"] + backends
        return {
            "active": True,
            "backends": None if backends is None else sorted(set(backends)),
            "mode": params.get("mode", "maint"),
            "reason": params.get("reason", ""),
            "eta": params.get("eta", ""),
            "stamp": stamp,
            "by": sender,
        }
    remaining = []
    if backends is not None and current.get("active"):
        before = current.get("backends")
        if before is None:
            before = sorted(_declared_backends(lbs)[0])
        remaining = [name for name in before if name not in backends]
    wanted = {"active": bool(remaining), "backends": remaining, "stamp": stamp, "by": sender}
    if remaining:
        wanted.update(mode="maint", reason=current.get("reason", ""), eta=current.get("eta", ""))
    return wanted


def _result(action, env, sender, stamp, began, outcomes, state=None):
    failed = sorted(lb for lb, out in outcomes.items() if out["outcome"] != "ok")
    return {
        "action": action,
        "env": env,
        "sender": sender,
        "stamp": stamp,
        "result": state is None and not failed,
        "state": state or ("ok" if not failed else "incomplete"),
        "lbs": outcomes,
        "failed": failed,
        "duration_s": round(time.monotonic() - began, 4),
    }


def _stamp(when=None):
    """A fixed-width UTC time stamp, so that stamps order as strings."""
    when = when or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return when.strftime(STAMP_FORMAT)


def _reject(tag, sender, why, fields):
    data = {"tag": tag, "sender": sender, "why": why}
    if isinstance(fields, dict) and isinstance(fields.get("env"), str):
        data["env"] = fields["env"][:64]
    log.warning("rejected %s from %s: %s", tag, sender, why)
    _fire(REJECTED_TAG, data)
    return {"result": False, "rejected": why, "sender": sender, "tag": tag}


# --- entry points ------------------------------------------------------------------------


def handle_event(tag, data):
    """
    Act on an event that the reactor hands over: ``maint/start``, ``maint/stop`` or a
    minion start. Not meant to be called by hand.

    tag
        The event tag.

    data
        The whole event data as the master received it: the sender's fields are under
        ``data``, the authenticated sender id is ``id``.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.handle_event maint/start '{"id": "ops-1", "data": {"env": "prod"}}'
    """
    if not isinstance(data, dict):
        return _reject(str(tag), None, "the event is not a mapping", None)
    minion_start = MINION_START_TAG.fullmatch(str(tag))
    if minion_start:
        return catch_up(minion_start.group(1))
    sender = data.get("id")
    fields = data.get("data")
    if isinstance(fields, dict):
        # salt-call adds its own __pub_* job keys to what event.send fires; they are Salt's.
        fields = {key: value for key, value in fields.items() if not str(key).startswith("__pub_")}
    try:
        action, env, params = validate(tag, fields, sender)
    except Rejected as err:
        return _reject(tag, sender, str(err), fields)
    return _run(action, env, params, sender, _event_stamp(data))


def _event_stamp(data):
    # The master's receive time orders requests; a sender cannot set it.
    try:
        return _stamp(datetime.datetime.fromisoformat(str(data["_stamp"])))
    except (KeyError, ValueError):
        return _stamp()


def catch_up(minion_id):
    """
    Bring one returning LB to its environment's desired maintenance state.

    minion_id
        The LB's minion id.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.catch_up lb3
    """
    for env in sorted(_config().get("environments") or {}):
        if minion_id not in _lbs(env):
            continue
        wanted = _read_desired(env)
        if wanted.get("active"):
            params = {"backends": wanted.get("backends"), "mode": "maint"}
            params.update(reason=wanted.get("reason", ""), eta=wanted.get("eta", ""))
            action = "start"
        else:
            params, action = {"backends": None}, "stop"
        return _run(
            action, env, params, f"catch-up:{minion_id}", wanted.get("stamp"), [minion_id], False
        )
    return {"result": True, "comment": f"{minion_id} is not an LB of any environment"}


def start(env=None, backends=None, mode="maint", drain_timeout=None, reason=None, eta=None):
    """
    Start maintenance on every LB of ``env``, from the master (same path as the event).

    env
        Environment; default ``default_env`` of the master config.

    backends
        Backend names; default every backend with a sorry server.

    mode
        ``maint`` or ``drain``.

    drain_timeout
        Seconds, with ``mode=drain``.

    reason, eta
        Text for the maintenance page.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.start prod reason="Database upgrade" eta="22:00 UTC"
    """
    fields = {"env": env, "backends": backends, "mode": mode, "drain_timeout": drain_timeout}
    fields.update(reason=reason, eta=eta)
    return _operator(START_TAG, fields)


def stop(env=None, backends=None):
    """
    End maintenance on every LB of ``env``, from the master (same path as the event).

    env
        Environment; default ``default_env`` of the master config.

    backends
        Backend names; default every backend in maintenance.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.stop prod
    """
    return _operator(STOP_TAG, {"env": env, "backends": backends})


def _operator(tag, fields):
    fields = {key: value for key, value in fields.items() if value is not None}
    sender = f"master:{__opts__.get('user') or 'root'}"
    try:
        # An operator at the master is trusted: all but the allow-list is checked.
        action, env, params = validate(tag, fields, sender, check_sender=False)
    except Rejected as err:
        return _reject(tag, sender, str(err), fields)
    return _run(action, env, params, sender, None)


def status(env=None, table=True):
    """
    Show every LB of ``env`` (or of every environment): per backend, each server's admin and
    operational state and sessions, the sorry server's health, the maintenance flag.

    env
        Environment; default every configured one.

    table
        Return a readable table (default) or the data (``table=False``).

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.status
        salt-run haproxy_maint.status prod table=False
    """
    envs = [env] if env else sorted(_config().get("environments") or {})
    report = {}
    for name in envs:
        try:
            lbs = _lbs(name)
        except Rejected as err:
            return {"result": False, "comment": str(err)}
        report[name] = {
            "desired": _read_desired(name),
            "lbs": _call_lbs(lbs, "haproxy_maint.status", {}),
        }
    return _format_table(report) if table else report


def _format_table(report):
    rows = []  # (lb, backend, server, admin, status, sessions) or a note line
    for env, data in report.items():
        wanted = data["desired"]
        state = "ON" if wanted.get("active") else "off"
        reason = f" ({wanted['reason']})" if wanted.get("reason") else ""
        rows.append(f"env {env}: maintenance {state}{reason}")
        rows.append(("LB", "backend", "server", "admin", "status", "sess"))
        for lb, out in sorted(data["lbs"].items()):
            if out["outcome"] != "ok":
                rows.append(
                    f"  {lb}: {out['outcome']}" + (f": {out['why']}" if out.get("why") else "")
                )
                continue
            flag = "MAINT" if out.get("maintenance") else "live"
            rows.append(
                f"  {lb} [{flag}] sorry server {out.get('sorry_server')}, haproxy {out.get('haproxy')}"
            )
            for backend, servers in sorted(out.get("backends", {}).items()):
                if "error" in servers:
                    rows.append(f"  {lb}: {backend}: {servers['error']}")
                    continue
                for server, info in sorted(servers.items()):
                    name = server + (" (backup)" if info["backup"] else "")
                    rows.append(
                        (
                            lb,
                            backend,
                            name,
                            info["admin"],
                            str(info["status"]),
                            str(info["sessions"]),
                        )
                    )
    cells = [row for row in rows if isinstance(row, tuple)]
    widths = [max(len(row[i]) for row in cells) for i in range(6)] if cells else []
    lines = []
    for row in rows:
        if isinstance(row, str):
            lines.append(row)
        else:
            left = "  ".join(value.ljust(width) for value, width in zip(row[:5], widths))
            lines.append(f"  {left}  {row[5].rjust(widths[5])}")
    return "\n".join(lines)
