"""
The desired state of an environment and its scheduled window, as plain data.

A record (what :py:class:`saltext_haproxy_maint.register.Register` stores) is::

    {"active": True, "backends": None or [names], "paths": {backend: [prefixes]},
     "stamp": "...", "by": sender,
     "mode": "maint", "reason": "", "eta": "", "eta_at": "", "bypass": [],
     "window": {"start_at": ISO or "", "end_at": ISO or "", "params": {...}, "by": sender}}

A window that could not start or end when it came due is dropped and leaves
``"window_failed": {"start_at", "end_at", "why", "dropped_at"}`` until the next request.

``backends`` are in maintenance as a whole, ``None`` meaning every maintained backend;
``paths`` holds the backends in path-scoped maintenance (a backend in both is in maintenance
as a whole, as on the LBs). A pending window (``start_at`` set)
outlives any start or stop: only ``cancel`` drops it. A running window (only ``end_at``)
ends with the maintenance it belongs to.
"""

import copy
import dataclasses
import datetime

from saltext_haproxy_maint import timefmt
from saltext_haproxy_maint.request import RECORDED_FIELDS

FAILED_WINDOW = "window_failed"


@dataclasses.dataclass
class Request:
    """
    A checked request on its way through the master.

    action
        ``start``, ``stop`` or ``cancel``.

    env
        The environment's name.

    params
        The checked fields (:py:func:`saltext_haproxy_maint.request.parse`).

    sender
        Who asked: a minion id, ``master:<user>``, ``window`` or ``catch-up:<minion>``.

    stamp
        The master's receive stamp (:py:func:`saltext_haproxy_maint.timefmt.stamp`), or None.
    """

    action: str
    env: str
    params: dict
    sender: str
    stamp: str = None

    @property
    def test(self):
        """True for a dry run."""
        return bool(self.params.get("test"))


def kept_window(current, ending):
    """
    The window that survives a start or stop: a pending one always, a running one unless
    its maintenance is ``ending``; else None.

    current
        The record before the request.

    ending
        True when the request ends the maintenance.
    """
    window = current.get("window") or {}
    if window.get("start_at"):
        return window
    if window.get("end_at") and current.get("active") and not ending:
        return window
    return None


def next_desired(current, req, all_backends):
    """
    The environment's record after ``req``.

    current
        The record before it.

    req
        The :py:class:`Request` (a start or a stop).

    all_backends
        A function that returns every maintained backend of the environment's LBs (called
        only when a stop of some backends ends a maintenance of all, or a path-scoped start
        names no backend).
    """
    params = req.params
    backends = params.get("backends")
    active = current.get("active")
    scoped = dict(current.get("paths") or {}) if active else {}
    if req.action == "start":
        if params.get("paths"):
            # Path-scoped: named per backend, so that a later start or stop of some
            # backends leaves the others' scope as it was.
            for name in backends if backends is not None else sorted(all_backends()):
                scoped[name] = sorted(set(scoped.get(name, [])) | set(params["paths"]))
            backends = current.get("backends", []) if active else []
        elif active and backends is not None:
            backends = None if current.get("backends") is None else current["backends"] + backends
        desired = {
            "active": True,
            "backends": None if backends is None else sorted(set(backends)),
            "paths": scoped,
            "stamp": req.stamp,
            "by": req.sender,
        }
        for key, absent in RECORDED_FIELDS.items():
            desired[key] = params.get(key) or copy.copy(absent)
        window = kept_window(current, ending=False)
        if window:
            desired["window"] = window
        return desired
    remaining = []
    if backends is not None and active:
        before = current.get("backends")
        if before is None:
            before = sorted(all_backends())
        remaining = [name for name in before if name not in backends]
    scoped = {
        name: prefixes
        for name, prefixes in scoped.items()
        if backends is not None and name not in backends
    }
    wanted = {
        "active": bool(remaining or scoped),
        "backends": remaining,
        "paths": scoped,
        "stamp": req.stamp,
        "by": req.sender,
    }
    if wanted["active"]:
        for key in RECORDED_FIELDS:
            if current.get(key):
                wanted[key] = current[key]
    window = kept_window(current, ending=not wanted["active"])
    if window:
        wanted["window"] = window
    return wanted


def catch_up_starts(wanted):
    """
    The starts that bring a returning LB to ``wanted`` (an active record), always with
    ``mode: maint``: one for the backends in maintenance as a whole (if any), one per set of
    path prefixes for the path-scoped backends.

    wanted
        The environment's record.
    """
    fields = {key: wanted.get(key) or copy.copy(absent) for key, absent in RECORDED_FIELDS.items()}
    fields["mode"] = "maint"
    starts = []
    if wanted.get("backends") is None or wanted["backends"]:
        starts.append({**fields, "backends": wanted.get("backends")})
    by_prefixes = {}
    for name, prefixes in sorted((wanted.get("paths") or {}).items()):
        by_prefixes.setdefault(tuple(prefixes), []).append(name)
    for prefixes, names in by_prefixes.items():
        starts.append({**fields, "backends": names, "paths": list(prefixes)})
    return starts


def plan_window(params, now):
    """
    The window a start with ``at`` and/or ``duration`` asks for, and its params: ``(window,
    params)``. ``window["start_at"]`` is "" when it begins now (an ``at`` in the past counts
    the end from ``at``); a window with a ``duration`` puts its end into ``eta_at`` unless
    the request gave one.

    params
        The start's checked fields.

    now
        The current time, aware.
    """
    at = params.get("at")
    begins = timefmt.parse_iso(at, "at") if at else now
    window = {"start_at": at if at and begins > now else "", "end_at": ""}
    if params.get("duration"):
        ends = begins + datetime.timedelta(seconds=params["duration"])
        window["end_at"] = timefmt.format_iso(ends)
        # The page's ETA and the visitor's Retry-After follow the window's end.
        params = {**params, "eta_at": params.get("eta_at") or window["end_at"]}
    return window, params


def window_params(params):
    """
    What a pending window keeps of its start's fields to apply when it comes due.

    params
        The start's checked fields.
    """
    return {key: value for key, value in params.items() if key not in ("at", "duration", "test")}


def due(window, now):
    """
    ``"start"`` when a pending window's ``start_at`` has come, ``"stop"`` when a running
    window's ``end_at`` has passed, else None.

    window
        The record's window (``{}`` for none).

    now
        The current time, aware.
    """
    if window.get("start_at") and timefmt.parse_iso(window["start_at"], "start_at") <= now:
        return "start"
    if (
        window.get("end_at")
        and not window.get("start_at")
        and timefmt.parse_iso(window["end_at"], "end_at") <= now
    ):
        return "stop"
    return None
