"""
Scheduled windows: a start with ``at`` (later) and/or ``duration`` (ends by itself), its
``cancel``, and :py:func:`run_windows`, which the master's scheduler calls to start and end
the windows that have come due. A window is kept with the desired state, so it survives a
master restart.

A window needs that scheduler (a ``schedule:`` entry for ``run_windows`` in the master
config) and is checked like a start now (target, backends) when it is asked for. One that
still cannot run when it comes due is rejected once and dropped; the record says why.

Every function takes the :py:class:`saltext_haproxy_maint.handling.Master` it works for.
"""

import logging
import time

from saltext_haproxy_maint import desired, names, timefmt
from saltext_haproxy_maint.master_config import NO_SCHEDULER, Rejected

log = logging.getLogger(__name__)


def start_window(master, req):
    """
    A start with ``at`` and/or ``duration``: run it now (and record its end), or check it
    and record it as a pending window. :py:class:`Rejected` without the scheduler entry; a
    request older than the recorded one is ``superseded`` and records nothing.

    master
        The :py:class:`~saltext_haproxy_maint.handling.Master`.

    req
        The start :py:class:`~saltext_haproxy_maint.desired.Request`.
    """
    began = time.monotonic()
    if not master.config.windows_scheduled():
        raise Rejected(f"at and duration need the master's scheduler: {NO_SCHEDULER}")
    window, params = desired.plan_window(req.params, timefmt.now())
    req = desired.Request(req.action, req.env, params, req.sender, req.stamp)
    if not window["start_at"]:
        result = master.run(req)
        if not req.test:
            with master.register.lock(req.env):
                record = master.register.read(req.env)
                if record.get("active") and record.get("stamp") == result["stamp"]:
                    record["window"] = window
                    master.register.write(req.env, record)
        return {**result, "window": window}
    # What a start now would refuse, a window would only find when it comes due.
    master.checked_lbs(req)
    if not req.test:
        with master.register.lock(req.env):
            record = master.register.read(req.env)
            record.pop(desired.FAILED_WINDOW, None)
            record["window"] = {**window, "params": desired.window_params(params), "by": req.sender}
            record["stamp"] = req.stamp
            if not master.register.write(req.env, record):
                superseded = master.result(req, began=began, outcomes={}, state="superseded")
                return {**superseded, "window": window}
    return {
        "action": "start",
        "env": req.env,
        "sender": req.sender,
        "stamp": req.stamp,
        "result": True,
        "state": "planned" if req.test else "scheduled",
        "test": req.test,
        "window": window,
        "retcode": names.RETCODE_OK,
    }


def cancel_window(master, req):
    """
    Drop the pending window of ``req.env``; :py:class:`Rejected` when it has none. A cancel
    older than the recorded request is ``superseded`` and drops nothing.

    master
        The :py:class:`~saltext_haproxy_maint.handling.Master`.

    req
        The cancel :py:class:`~saltext_haproxy_maint.desired.Request`.
    """
    began = time.monotonic()
    with master.register.lock(req.env):
        record = master.register.read(req.env)
        window = record.get("window") or {}
        if not window.get("start_at"):
            raise Rejected(
                f"env {req.env!r} has no pending window (a running maintenance ends with stop)"
            )
        record.pop("window")
        record["stamp"] = req.stamp
        if not master.register.write(req.env, record):
            return master.result(req, began=began, outcomes={}, state="superseded")
    return {
        "action": "cancel",
        "env": req.env,
        "sender": req.sender,
        "result": True,
        "state": "cancelled",
        "window": window,
        "retcode": names.RETCODE_OK,
    }


def drop_failed_window(master, env, window, *, why):
    """
    Drop ``env``'s ``window``, which could not start or end, and keep why in the record
    (``status`` shows it until the next request), so that the scheduler's next run does not
    reject it again. A window changed in the meantime is left alone.

    master
        The :py:class:`~saltext_haproxy_maint.handling.Master`.

    env
        The environment's name.

    window
        The window as it was read before it failed.

    why
        The reason it could not run.
    """
    try:
        with master.register.lock(env):
            record = master.register.read(env)
            if record.get("window") != window:
                return
            record.pop("window")
            record[desired.FAILED_WINDOW] = {
                "start_at": window.get("start_at", ""),
                "end_at": window.get("end_at", ""),
                "why": why,
                "dropped_at": timefmt.format_iso(timefmt.now()),
            }
            record["stamp"] = timefmt.stamp()
            master.register.write(env, record)
    except Rejected as err:
        # The cache failed: the window stays, and the next run tries (and reports) again.
        log.warning("could not drop the failed window of env %s: %s", env, err)


def run_windows(master):
    """
    Start the windows whose ``at`` has come and end those whose ``duration`` is over; return
    ``{env: outcome}`` for those acted on. A window that cannot run is rejected once and
    dropped (:py:func:`drop_failed_window`).

    master
        The :py:class:`~saltext_haproxy_maint.handling.Master`.
    """
    done = {}
    now = timefmt.now()
    for env in sorted(master.config.environments()):
        window = {}
        try:
            master.config.environment(env)
            window = master.register.read(env).get("window") or {}
            action = desired.due(window, now)
            if action == "start":
                params = {"backends": None, "test": False, **window.get("params", {})}
                req = desired.Request("start", env, params, window.get("by", "window"))
                result = master.run(req)
                with master.register.lock(env):
                    record = master.register.read(env)
                    if record.get("active"):
                        record["window"] = {"start_at": "", "end_at": window.get("end_at", "")}
                        master.register.write(env, record)
            elif action == "stop":
                result = master.run(desired.Request("stop", env, {"backends": None}, "window"))
            else:
                continue
            master.fire(names.RESULT_TAG, result)
            done[env] = result
        except Rejected as err:
            if window:
                drop_failed_window(master, env, window, why=str(err))
            done[env] = master.rejected("window", "master", str(err), {"env": env})
    return done
