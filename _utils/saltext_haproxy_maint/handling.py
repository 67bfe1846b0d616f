"""
A request's way through the master: check it, prove the sender, record the desired state,
apply it to the environment's LBs, answer.

:py:class:`Master` is what the ``haproxy_maint`` runner builds for each call, from its opts
and context: the reactor's events (:py:meth:`Master.handle_request`), the operator's calls at
the master (:py:meth:`Master.operator`) and a returning LB (:py:meth:`Master.catch_up`) all
end in :py:meth:`Master.run`.
"""

import logging
import time

import salt.cache
from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import desired, fanout, names, request, sender, signing, timefmt, windows
from saltext_haproxy_maint.lb_pillar import LBPillar, cached_pillar
from saltext_haproxy_maint.master_config import NO_SCHEDULER, MasterConfig, Rejected
from saltext_haproxy_maint.register import Register

log = logging.getLogger(__name__)


def top_level_refusal(tag, data):
    """
    Why an event whose request fields sit at its top level is refused, and what to run
    instead (the operator's ``salt-run`` call, with the ``env`` it named when that is a valid
    name).

    tag
        ``maint/start``, ``maint/stop`` or ``maint/cancel``.

    data
        The event's data.
    """
    env = data.get("env")
    valid_env = isinstance(env, str) and names.ENV_PATTERN.fullmatch(env)
    command = f"salt-run haproxy_maint.{names.ACTIONS[tag]}" + (f" {env}" if valid_env else "")
    return (
        "the request's fields are at the top level of the event, not under 'data': it was "
        "fired on the master's event bus (salt-run event.send) or in a batched minion event, "
        f"and neither names a sender Salt vouches for; at the master, run `{command}` instead; "
        "on an allowed minion, salt-call event.send or salt-call haproxy_maint.request"
    )


class Master:
    """
    The master's side of maintenance.

    opts
        The master's opts.

    context
        The runner's ``__context__``.
    """

    def __init__(self, opts, context):
        self.opts = opts
        self.config = MasterConfig(opts)
        self.pillar = LBPillar(opts, context)
        self.register = Register(opts, self.config.state_dir())

    # --- answers ---------------------------------------------------------------------------

    def fire(self, tag, data):
        """Fire ``data`` on the master's event bus under ``tag``."""
        fanout.fire(self.opts, tag, data)

    def rejected(self, tag, who, why, fields):
        """
        Fire ``maint/rejected`` and return the rejection, with ``retcode`` 2.

        tag
            What was rejected (a tag, ``window``, ``catch-up <minion>``).

        who
            The sender as far as known.

        why
            The reason.

        fields
            The request's fields (for its ``env``), or None.
        """
        data = {"tag": tag, "sender": who, "why": why}
        if isinstance(fields, dict) and isinstance(fields.get("env"), str):
            data["env"] = fields["env"][:64]
        log.warning("rejected %s from %s: %s", tag, who, why)
        self.fire(names.REJECTED_TAG, data)
        return {"result": False, "state": "rejected", "retcode": names.RETCODE_REJECTED, **data}

    @staticmethod
    def result(req, *, began, outcomes, state=None):
        """
        The outcome of ``req`` over the LBs' ``outcomes``: ``ok``, ``planned`` (test),
        ``incomplete`` (some LB failed, ``retcode`` 1) or the given ``state``.
        """
        failed = sorted(lb for lb, out in outcomes.items() if out["outcome"] != "ok")
        state = state or ("incomplete" if failed else "planned" if req.test else "ok")
        result = {
            "action": req.action,
            "env": req.env,
            "sender": req.sender,
            "stamp": req.stamp,
            "test": req.test,
            "result": state in ("ok", "planned", "superseded"),
            "state": state,
            "lbs": outcomes,
            "failed": failed,
            "duration_s": round(time.monotonic() - began, 4),
            "retcode": names.RETCODE_INCOMPLETE if failed else names.RETCODE_OK,
        }
        if req.action == "stop":
            result["not_up"] = {
                lb: out["not_up"] for lb, out in outcomes.items() if out.get("not_up")
            }
        return result

    # --- applying a request ----------------------------------------------------------------

    def run(self, req, *, lbs=None, record=True):
        """
        Record the desired state of ``req``, apply it to the LBs, return the outcome (the
        caller fires it). A request older than the recorded one is ``superseded`` and calls
        no LB.

        req
            A start or stop :py:class:`~saltext_haproxy_maint.desired.Request`.

        lbs
            The LBs to call (default: every LB of the environment).

        record
            False for a catch-up: apply the record, write nothing.
        """
        began = time.monotonic()
        # A catch-up (record=False) of an environment with no record has no request to be
        # ordered by: stamped "now", it would make the LB refuse a request received before it.
        req.stamp = req.stamp or (timefmt.stamp() if record else None)
        with self.register.lock(req.env):
            current = self.register.read(req.env)
            if record and current.get("stamp") and req.stamp < current["stamp"]:
                return self.result(req, began=began, outcomes={}, state="superseded")
            lbs = self.checked_lbs(req, lbs=lbs)
            wanted = desired.next_desired(
                current,
                req,
                all_backends=lambda: self.pillar.all_maintained(lbs, running=self.running_backends),
            )
            if record and not req.test and not self.register.write(req.env, wanted):
                # Another master recorded a newer request between our read and our write.
                return self.result(req, began=began, outcomes={}, state="superseded")
            recorded = time.monotonic()
            outcomes = self.call_lbs(
                lbs,
                f"haproxy_maint.{req.action}",
                fanout.lb_kwargs(req.action, req.params, req.stamp),
                action=req.action,
            )
        result = self.result(req, began=began, outcomes=outcomes)
        # Where the time went, for the benchmark and for an operator reading a slow result.
        result["timings"] = {
            "target_and_record_s": round(recorded - began, 4),
            "publish_and_returns_s": round(time.monotonic() - recorded, 4),
        }
        return result

    def checked_lbs(self, req, *, lbs=None):
        """
        The LBs that ``req`` goes to, its ``backends`` checked against their pillar; raise
        :py:class:`Rejected` when no LB matches or a backend is not theirs.

        req
            A start or stop :py:class:`~saltext_haproxy_maint.desired.Request`.

        lbs
            The LBs to call (default: every LB of the environment).
        """
        if lbs is None:
            lbs = self.config.lbs(req.env)
        if not lbs:
            raise Rejected(f"no LB matches env {req.env!r}; nothing recorded")
        self.pillar.check_backends(req.params.get("backends"), lbs, running=self.running_backends)
        return lbs

    def running_backends(self, lbs):
        """
        The backends that ``lbs`` maintain in their running HAProxy (their
        ``haproxy_maint.status``, one publish), as a set; None when one of them did not
        answer or could not reach its HAProxy.

        lbs
            The LBs' minion ids.
        """
        found = set()
        for outcome in self.call_lbs(lbs, "haproxy_maint.status", {}, action="status").values():
            if outcome["outcome"] != "ok" or outcome.get("haproxy") != "up":
                return None
            found.update(outcome.get("backends") or {})
        return found

    def call_lbs(self, lbs, fun, kwargs, *, action):
        """Run ``fun`` on ``lbs`` with the timeout of ``action``; ``{lb: outcome}``."""
        return fanout.call_lbs(
            self.opts,
            lbs,
            fun,
            kwargs,
            timeout=self.config.timeout(action),
            gather_job_timeout=self.config.gather_job_timeout,
        )

    def act(self, req):
        """Do what a valid request asks: now, or as a scheduled window."""
        req.stamp = req.stamp or timefmt.stamp()
        if req.action == "cancel":
            return windows.cancel_window(self, req)
        if req.action == "start" and (req.params.get("at") or req.params.get("duration")):
            return windows.start_window(self, req)
        return self.run(req)

    def parse(self, tag, fields):
        """``(action, env, params)`` of a request; :py:class:`Rejected` when it is not valid."""
        try:
            return request.parse(tag, fields, self.config.default_env)
        except SaltInvocationError as err:
            raise Rejected(str(err)) from err

    # --- where requests come from -----------------------------------------------------------

    def handle_request(self, tag, data, stamp):
        """
        A request from the event bus: prove the sender, check, act, answer. Returns the
        outcome, which is also fired as ``maint/result`` (or ``maint/rejected``).

        tag
            ``maint/start``, ``maint/stop`` or ``maint/cancel``.

        data
            The event's data as the master received it.

        stamp
            The master's receive stamp.
        """
        event_id = data.get("id")
        fields = data.get("data")
        if "data" not in data:
            # Fields at the top level: fired on the master's bus (salt-run event.send) or as
            # one item of a batched minion event. Neither names a sender Salt vouches for.
            return self.rejected(tag, event_id, top_level_refusal(tag, data), data)
        if isinstance(fields, dict):
            # salt-call adds its own __pub_* job keys to what event.send fires; they are Salt's.
            fields = {
                key: value for key, value in fields.items() if not str(key).startswith("__pub_")
            }
        envelope = fields.pop(signing.SIGNATURE_FIELD, None) if isinstance(fields, dict) else None
        who, proven = event_id, False
        try:
            action, env, params = self.parse(tag, fields)
            who = sender.prove_sender(
                self.config, tag=tag, event_id=event_id, fields=fields, envelope=envelope, env=env
            )
            proven = envelope is not None
            sender.check_allowed(self.config, who, env)
            result = self.act(desired.Request(action, env, params, who, stamp))
        except Rejected as err:
            result = self.rejected(tag, who, str(err), fields)
            # Only a sender that the signature proved gets an answer: a forged event must not
            # make the master publish to a minion of the forger's choosing.
            if proven:
                fanout.answer(self.opts, who, envelope["nonce"], result)
            return result
        self.fire(names.RESULT_TAG, result)
        if proven:
            fanout.answer(self.opts, who, envelope["nonce"], result)
        return result

    def operator(self, tag, fields):
        """
        A request of an operator at the master (``salt-run``): trusted, so all but the
        allow-list is checked.

        tag
            The request's tag.

        fields
            Its fields; None values are left out.
        """
        fields = {key: value for key, value in fields.items() if value is not None}
        who = f"master:{self.opts.get('user') or 'root'}"
        try:
            action, env, params = self.parse(tag, fields)
            self.config.environment(env)
            result = self.act(desired.Request(action, env, params, who))
        except Rejected as err:
            return self.rejected(tag, who, str(err), fields)
        self.fire(names.RESULT_TAG, result)
        return result

    def catch_up(self, minion_id):
        """
        Bring one returning LB to its environment's desired state (a catch-up always applies
        ``mode: maint``); a minion that is not an LB of a configured environment returns at
        once.

        minion_id
            The LB's minion id.
        """
        pillar = cached_pillar(salt.cache.factory(self.opts), minion_id).get(names.CONFIG_KEY)
        env = pillar.get("env") if isinstance(pillar, dict) else None
        if not isinstance(env, str) or env not in self.config.environments():
            return {"result": True, "state": "not an LB", "minion": minion_id}
        try:
            self.config.environment(env)
            wanted = self.register.read(env)
            if wanted.get("active"):
                requests = [("start", params) for params in desired.catch_up_starts(wanted)]
            else:
                requests = [("stop", {"backends": None})]
            results = [
                self.run(
                    desired.Request(
                        action, env, params, f"catch-up:{minion_id}", wanted.get("stamp")
                    ),
                    lbs=[minion_id],
                    record=False,
                )
                for action, params in requests
            ]
        except Rejected as err:
            return self.rejected(f"catch-up {minion_id}", "master", str(err), {"env": env})
        for result in results:
            self.fire(names.RESULT_TAG, result)
        # Whole and path-scoped backends take a start each: the first that did not go well.
        return next((result for result in results if not result.get("result")), results[-1])

    def status(self, env=None):
        """
        Every LB's ``haproxy_maint.status`` and the desired state, per environment; a
        ``warning`` where the environment has a window and no scheduler entry would run it.

        env
            An environment's name (default every configured one).
        """
        report = {"envs": {}, "retcode": names.RETCODE_OK}
        try:
            envs = [env] if env is not None else sorted(self.config.environments())
            for name in envs:
                self.config.environment(name)
                lbs = self.config.lbs(name)
                outcomes = self.call_lbs(lbs, "haproxy_maint.status", {}, action="status")
                record = self.register.read(name)
                report["envs"][name] = {"desired": record, "lbs": outcomes}
                if (
                    desired.kept_window(record, ending=False)
                    and not self.config.windows_scheduled()
                ):
                    report["envs"][name]["warning"] = f"its window will not run: {NO_SCHEDULER}"
                if any(out["outcome"] != "ok" for out in outcomes.values()):
                    report["retcode"] = names.RETCODE_INCOMPLETE
        except Rejected as err:
            report.update(result=False, why=str(err), retcode=names.RETCODE_REJECTED)
        report.setdefault("result", report["retcode"] == names.RETCODE_OK)
        return report
