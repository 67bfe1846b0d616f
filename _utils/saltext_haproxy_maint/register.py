"""
The desired state of each environment, kept in Salt's cache (the master's ``cache:``).

A last-writer-wins register over the masters: each master stores its latest record under its
own id (bank ``haproxy_maint/desired/<env>``, key the master's id), and a reader takes the
record with the newest stamp. Masters sharing the cache (Redis, Consul ...) never overwrite
each other, so no write can go back; they need synchronised clocks. A lock file per
environment serialises this master's own requests.
"""

import os

import salt.cache
from salt.exceptions import SaltCacheError

from saltext_haproxy_maint import files
from saltext_haproxy_maint.master_config import Rejected

DESIRED_BANK = "haproxy_maint/desired"


def bank(env):
    """
    The cache bank of ``env``'s records.

    env
        The environment's name.
    """
    return f"{DESIRED_BANK}/{env}"


class Register:
    """
    Read and write the desired state in Salt's cache.

    opts
        The master's opts (``cache:``, ``id``).

    state_dir
        Where the per-environment lock files live.
    """

    def __init__(self, opts, state_dir):
        self.opts = opts
        self.state_dir = state_dir

    def _unavailable(self, err):
        # Salt's cache factory raises KeyError for a driver whose module did not load (e.g.
        # cache: redis without the redis client).
        driver = self.opts.get("cache", "localfs")
        return f"the master's cache driver {driver!r} is not available ({err}); see docs/install.md"

    def read(self, env):
        """
        The newest record of ``env`` over every master's, or ``{"active": False}``.

        env
            The environment's name.
        """
        cache = salt.cache.factory(self.opts)
        try:
            records = [cache.fetch(bank(env), master) for master in sorted(cache.list(bank(env)))]
        except SaltCacheError as err:
            raise Rejected(f"cannot read the desired state of env {env!r}: {err}") from err
        except KeyError as err:
            raise Rejected(self._unavailable(err)) from err
        records = [record for record in records if isinstance(record, dict) and record]
        if not records:
            return {"active": False}
        return dict(max(records, key=lambda record: str(record.get("stamp") or "")))

    def write(self, env, desired):
        """
        Store this master's record of ``env``, unless a newer one is known: return False
        then (a write never goes back), True when stored.

        env
            The environment's name.

        desired
            The record.
        """
        current = self.read(env)
        if current.get("stamp") and desired.get("stamp") and desired["stamp"] < current["stamp"]:
            return False
        try:
            salt.cache.factory(self.opts).store(bank(env), self.opts["id"], desired)
        except SaltCacheError as err:
            raise Rejected(f"cannot record the desired state of env {env!r}: {err}") from err
        except KeyError as err:
            raise Rejected(self._unavailable(err)) from err
        return True

    def lock(self, env):
        """
        One request per environment at a time, across reactor threads and salt-run calls.

        env
            The environment's name.
        """
        return files.locked(os.path.join(self.state_dir, f"{env}.lock"), dir_mode=0o700)
