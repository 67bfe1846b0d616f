"""
Check an LB's ``haproxy_maint`` pillar: the state tree's entry to the one reading of an LB's
configuration (:py:mod:`saltext_haproxy_maint.lbconfig`), which the LB module and the master's
runner use too.

The state tree's ``map.jinja`` calls :py:func:`lb_config` before any state runs, so a missing,
unknown or ill-typed key fails the render with a message that names the key
(``haproxy_maint:haproxy:backends:app:servers:app1``), and no file on the LB changes.
"""

from saltext_haproxy_maint import lbconfig

__virtualname__ = "haproxy_pillar"


def __virtual__():
    return __virtualname__


def lb_config(defaults, pillar):
    """
    Return the LB's configuration: ``pillar`` merged over ``defaults``, validated, every
    backend completed with ``haproxy:backend_defaults``. Raises ``SaltInvocationError``
    naming the first bad key.

    defaults
        The ``haproxy_maint`` mapping of the state tree's ``defaults.yaml``.

    pillar
        The LB's ``haproxy_maint`` pillar. Salt 3008's ``pillar.get`` masks values unless
        ``unmask=True``; unmasked, ``tls:pem`` is on the command line: run it as root.

    CLI Example:

    .. code-block:: bash

        # On an LB: its pillar over the state tree's defaults.yaml, as map.jinja reads them
        DEFAULTS=$(salt-call --out=json slsutil.renderer salt://haproxy_maint/defaults.yaml | jq -c .local.haproxy_maint)
        PILLAR=$(salt-call --out=json pillar.get haproxy_maint unmask=True | jq -c .local)
        salt-call haproxy_pillar.lb_config "$DEFAULTS" "$PILLAR"
        # A pillar you are about to commit
        salt-call haproxy_pillar.lb_config "$DEFAULTS" '{"env": "dev", "haproxy": {"backends": {"app": {"servers": {"app1": "127.0.0.1:8001"}}}}}'
    """
    return lbconfig.lb_config(defaults, pillar)


def validate(config):
    """
    Check a merged ``haproxy_maint`` map (defaults with the pillar over them) and return it,
    completed: each backend gets ``haproxy:backend_defaults`` under its own keys. Raises
    ``SaltInvocationError`` naming the first bad key, as ``haproxy_maint:<path>``.

    config
        The map.

    CLI Example:

    .. code-block:: bash

        # On an LB; jq's * merges as map.jinja does (mappings recursively, lists replaced)
        DEFAULTS=$(salt-call --out=json slsutil.renderer salt://haproxy_maint/defaults.yaml | jq -c .local.haproxy_maint)
        PILLAR=$(salt-call --out=json pillar.get haproxy_maint unmask=True | jq -c .local)
        salt-call haproxy_pillar.validate "$(jq -cn --argjson d "$DEFAULTS" --argjson p "$PILLAR" '$d * $p')"
    """
    return lbconfig.validate(config)
