"""
The master's ``haproxy_maint:`` configuration: environments, their target, trust and
allow-list, where the master keeps its files, how long it waits for the LBs.

Every check here raises :py:class:`Rejected`: a request that must change nothing, with a
message that says why.
"""

import os

import salt.utils.minions
from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import names

DEFAULT_TIMEOUT = 10
DEFAULT_GATHER_JOB_TIMEOUT = 2
DEFAULT_NOT_UP_WAIT = 30
DEFAULT_TARGET = "I@haproxy_maint:env:{env}"
DEFAULT_TRUST = "signed"
DEFAULT_SIGNATURE_WINDOW = 60
TRUST_LEVELS = ("signed", "minion-id")
# The runner function the master's scheduler must call for windows to start and end.
WINDOWS_FUNCTION = "haproxy_maint.run_windows"
NO_SCHEDULER = (
    f"the master config has no schedule entry for {WINDOWS_FUNCTION}, so nothing would start "
    "or end a window (add the schedule: entry of docs/examples/master.d-haproxy_maint.conf "
    "and restart the master)"
)


class Rejected(Exception):
    """A request that must change nothing; its message says why."""


class MasterConfig:
    """
    The ``haproxy_maint`` section of the master's opts.

    opts
        The master's opts.
    """

    def __init__(self, opts):
        self.opts = opts
        self.settings = opts.get(names.CONFIG_KEY) or {}

    @property
    def default_env(self):
        """The env of a request that names none (None: such a request is refused)."""
        return self.settings.get("default_env")

    @property
    def signature_window(self):
        """Seconds a signed request's time stamp may be off the master's clock."""
        return self.settings.get("signature_window", DEFAULT_SIGNATURE_WINDOW)

    @property
    def gather_job_timeout(self):
        """Seconds Salt waits for an LB to say that it still runs the job."""
        return self.settings.get("gather_job_timeout", DEFAULT_GATHER_JOB_TIMEOUT)

    def windows_scheduled(self):
        """
        True when the master's ``schedule:`` (Salt keeps it in opts, ``master.d`` files and
        ``_schedule.conf`` merged) has an enabled job that calls ``run_windows``.
        """
        schedule = self.opts.get("schedule") or {}
        if not isinstance(schedule, dict) or schedule.get("enabled") is False:
            return False
        return any(
            isinstance(job, dict)
            and job.get("function") == WINDOWS_FUNCTION
            and job.get("enabled") is not False
            for job in schedule.values()
        )

    def environments(self):
        """``{env: settings}`` of every configured environment."""
        return self.settings.get("environments") or {}

    def environment(self, env):
        """
        The settings of ``env``; raise :py:class:`Rejected` for an invalid or unknown name.

        env
            The environment's name.
        """
        try:
            names.check_env(env)
        except SaltInvocationError as err:
            raise Rejected(str(err)) from err
        environments = self.environments()
        if env not in environments:
            known = ", ".join(sorted(environments)) or "none configured"
            raise Rejected(f"unknown env {env!r} (known: {known})")
        return environments[env] or {}

    def trust(self, env):
        """
        ``signed`` or ``minion-id``: what proves the sender of a request for ``env``.

        env
            The environment's name.
        """
        trust = self.environment(env).get("trust", DEFAULT_TRUST)
        if trust not in TRUST_LEVELS:
            raise Rejected(f"env {env!r} has trust {trust!r}; use one of {', '.join(TRUST_LEVELS)}")
        return trust

    def allow(self, env):
        """
        The minion ids or globs that may trigger maintenance of ``env``.

        env
            The environment's name.
        """
        allow = self.environment(env).get("allow") or []
        return [allow] if isinstance(allow, str) else list(allow)

    def lbs(self, env):
        """
        The sorted minion ids of the LBs that ``env``'s target matches.

        env
            The environment's name.
        """
        settings = self.environment(env)
        target = settings.get("target") or DEFAULT_TARGET.format(env=env)
        tgt_type = settings.get("tgt_type") or "compound"
        found = salt.utils.minions.CkMinions(self.opts).check_minions(target, tgt_type)
        return sorted(found.get("minions", []))

    def state_dir(self):
        """Where this master keeps its locks and the nonces of signed requests."""
        return self.settings.get("state_dir") or os.path.join(
            self.opts["cachedir"], names.CONFIG_KEY
        )

    def timeout(self, action):
        """
        Seconds to wait for the LBs' returns to ``action`` (a stop also waits for the restored
        servers to come UP).

        action
            ``start``, ``stop`` or ``status``.
        """
        timeout = self.settings.get("timeout", DEFAULT_TIMEOUT)
        if action == "stop":
            timeout += self.settings.get("not_up_wait", DEFAULT_NOT_UP_WAIT)
        return timeout
