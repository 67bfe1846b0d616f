"""
What the LBs declare, read on the master from their cached pillar: each LB's validated
configuration, the backends it maintains and its sorry server's name. The runner checks a
request's ``backends`` against them before anything is recorded or sent.
"""

import salt.cache
import salt.fileclient
import salt.utils.yaml
from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import lbconfig, names
from saltext_haproxy_maint.master_config import Rejected

DEFAULTS_CONTEXT_KEY = "haproxy_maint.defaults"


def cached_pillar(cache, minion):
    """
    The pillar the master cached for ``minion`` (``{}`` when it has none).

    cache
        Salt's cache (``salt.cache.factory(opts)``).

    minion
        The minion id.
    """
    # Salt 3008 keeps a bank per kind ("pillar"); 3007 one per minion ("minions/<id>").
    pillar = cache.fetch("pillar", minion)
    if not pillar:
        pillar = (cache.fetch(f"minions/{minion}", "data") or {}).get("pillar")
    return pillar if isinstance(pillar, dict) else {}


class LBPillar:
    """
    The LBs' configurations as the master knows them.

    opts
        The master's opts.

    context
        The runner's ``__context__``: ``defaults.yaml`` is read once per loader, which lives
        as long as the master process (the reactor's runner caches it until a restart).
    """

    def __init__(self, opts, context):
        self.opts = opts
        self.context = context

    def defaults(self):
        """``defaults.yaml`` of the state tree, from the master's own fileserver."""
        if DEFAULTS_CONTEXT_KEY not in self.context:
            client = salt.fileclient.FSClient(self.opts)
            try:
                path = client.cache_file(names.DEFAULTS_URL)
            finally:
                client.destroy()
            if not path:
                raise Rejected(f"{names.DEFAULTS_URL} is not on the master's fileserver")
            with open(path, encoding="utf-8") as handle:
                defaults = salt.utils.yaml.safe_load(handle)[names.CONFIG_KEY]
            self.context[DEFAULTS_CONTEXT_KEY] = defaults
        return self.context[DEFAULTS_CONTEXT_KEY]

    def config(self, cache, minion):
        """
        The validated configuration of ``minion``; raise :py:class:`Rejected` if its pillar
        is not valid.

        cache
            Salt's cache.

        minion
            The LB's minion id.
        """
        pillar = cached_pillar(cache, minion).get(names.CONFIG_KEY)
        try:
            return lbconfig.lb_config(self.defaults(), pillar)
        except SaltInvocationError as err:
            raise Rejected(f"the pillar of {minion} is not valid: {err}") from err

    def declared(self, lbs):
        """
        The maintained backends (the union over ``lbs``) and the sorry servers' names, as two
        sets, and the LBs whose pillar does not name their backends (``manage_config: false``
        with no ``haproxy:maintain``: they find them in their running HAProxy), sorted.

        lbs
            The LBs' minion ids.
        """
        cache = salt.cache.factory(self.opts)
        backends, sorry_names, undeclared = set(), set(), []
        for minion in lbs:
            config = self.config(cache, minion)
            backends.update(lbconfig.maintained_backends(config))
            sorry_names.add(config["sorry_server"]["name"])
            if not config["haproxy"]["manage_config"] and not config["haproxy"]["maintain"]:
                undeclared.append(minion)
        return backends, sorry_names, sorted(undeclared)

    def all_maintained(self, lbs, *, running):
        """
        Every backend that ``lbs`` maintain, as a set: from their pillar, or from their
        running HAProxy; raise :py:class:`Rejected` when an LB cannot say (a stop of some
        backends could not tell which remain in maintenance).

        lbs
            The LBs' minion ids.

        running
            As for :py:meth:`check_backends`.
        """
        backends, _sorry_names, undeclared = self.declared(lbs)
        if undeclared:
            found = running(undeclared)
            if found is None:
                raise Rejected(
                    f"{', '.join(undeclared)} could not say which backends their running HAProxy "
                    "has (manage_config: false): stop the whole maintenance, or name the "
                    "backends in haproxy:maintain"
                )
            backends |= found
        return backends

    def check_backends(self, wanted, lbs, *, running):
        """
        Raise :py:class:`Rejected` unless every name of ``wanted`` is a backend that one of
        ``lbs`` maintains (None: every backend, nothing to check).

        wanted
            Backend names, or None.

        lbs
            The LBs' minion ids.

        running
            A function that returns the backends some LBs find in their running HAProxy (for
            those whose pillar names none, ``manage_config: false``), as a set, or None when
            one of them could not say (each LB then checks the names itself). Called only
            when a name is not in any pillar.
        """
        if wanted is None:
            return
        declared, sorry_names, undeclared = self.declared(lbs)
        if undeclared and any(name not in declared for name in wanted):
            found = running(undeclared)
            if found is None:
                return
            declared |= found
        for name in wanted:
            if name in sorry_names:
                raise Rejected(f"{name!r} is the sorry server, not a backend")
            if name not in declared:
                raise Rejected(
                    f"unknown backend {name!r} (maintained: "
                    f"{', '.join(sorted(declared)) or 'none'})"
                )
