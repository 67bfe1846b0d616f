"""
Cluster maintenance, on the master: check who asks and what, fan the request out to every LB
of an environment, record it, report.

The reactor hands ``maint/start``, ``maint/stop``, ``maint/cancel`` and minion start events
to :py:func:`handle_event`. It proves the sender (a signature by the sender minion's accepted
key in a ``signed`` environment; the event's ``id`` in a ``minion-id`` one), checks it against
the environment's allow-list and every field against the request contract
(:py:mod:`saltext_haproxy_maint.request`), records the environment's desired state, and calls
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

The work is done by :py:class:`saltext_haproxy_maint.handling.Master` and the package modules
it uses (master config, sender, register, fan-out, windows); this file holds the entry points.

Master configuration: ``docs/examples/master.d-haproxy_maint.conf``.
"""

import re

from saltext_haproxy_maint import names, timefmt, windows
from saltext_haproxy_maint.handling import Master
from saltext_haproxy_maint.master_config import Rejected

__virtualname__ = "haproxy_maint"

MINION_START_TAG = re.compile(r"salt/minion/([^/]+)/start")
OPERATOR_TAGS = (names.START_TAG, names.STOP_TAG, names.CANCEL_TAG)


def __virtual__():
    return __virtualname__


def _master():
    return Master(__opts__, __context__)


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
        return _master().rejected(tag, None, "the event is not a mapping", None)
    return _master().handle_request(tag, data, timefmt.event_stamp(data))


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
    return _master().catch_up(minion_id)


def run_windows():
    """
    Start the windows whose ``at`` has come and end those whose ``duration`` is over. The
    master's scheduler calls this every few seconds (see the example master config); the
    windows are kept with the desired state, so they survive a master restart.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.run_windows
    """
    return windows.run_windows(_master())


def start(
    env=None,
    backends=None,
    mode=None,
    drain_timeout=None,
    reason=None,
    eta=None,
    eta_at=None,
    bypass=None,
    paths=None,
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

    paths
        Path prefixes (``/checkout``): only the requests of ``backends`` under them get the
        page; the servers stay READY.

    at
        Start later, ISO 8601 with a zone (a pending window; ``cancel`` drops it).

    duration
        End by itself after this long: ``90m``, ``2h`` or seconds. ``at`` and ``duration``
        need the master's ``schedule:`` entry for ``haproxy_maint.run_windows`` (refused
        without it); a window's target and backends are checked when it is scheduled.

    test
        Show per LB, backend and server what would change; change and record nothing.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.start prod reason="Database upgrade" eta='"22:00 UTC"'
        salt-run haproxy_maint.start prod test=True
        salt-run haproxy_maint.start prod at=2026-11-28T02:00:00Z duration=2h
        salt-run haproxy_maint.start prod backends='[shop]' paths='[/checkout/]'
    """
    fields = {"env": env, "backends": backends, "mode": mode, "drain_timeout": drain_timeout}
    fields.update(reason=reason, eta=eta, eta_at=eta_at, bypass=bypass, paths=paths, at=at)
    fields.update(duration=duration, test=test or None)
    return _master().operator(names.START_TAG, fields)


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
    return _master().operator(
        names.STOP_TAG, {"env": env, "backends": backends, "test": test or None}
    )


def cancel(env=None):
    """
    Cancel the pending (not yet started) maintenance window of ``env``.

    env
        Environment; default ``default_env`` of the master config.

    CLI Example:

    .. code-block:: bash

        salt-run haproxy_maint.cancel prod
    """
    return _master().operator(names.CANCEL_TAG, {"env": env})


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
    master = _master()
    try:
        master.config.environment(env)
        return master.register.read(env)
    except Rejected as err:
        return {"result": False, "why": str(err), "retcode": names.RETCODE_REJECTED}


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
    return {"outputter": "haproxy_maint", "data": _master().status(env)}
