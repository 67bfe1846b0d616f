"""
Check an LB's ``haproxy_maint`` pillar: the state tree's entry to the one reading of an LB's
configuration (:py:mod:`saltext_haproxy_maint.lbconfig`), which the LB module and the master's
runner use too.

The state tree's ``map.jinja`` calls :py:func:`lb_config` before any state runs, so a missing,
unknown or ill-typed key fails the render with a message that names the key
(``haproxy_maint:haproxy:backends:app:servers:app1``), and no file on the LB changes.
The visitor's macros call :py:func:`page_files` for the page that HAProxy holds in memory.
"""

from saltext_haproxy_maint import lbconfig
from saltext_haproxy_maint import page_files as page_files_

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


def page_files(root, max_file_bytes):
    """
    The maintenance page's files that HAProxy answers from memory (``http-request return
    ... file``), and the ``tune.bufsize`` that holds the largest: ``{"files": [{"path":
    "css/maintenance.css", "file": absolute path, "content_type": str, "bytes": int,
    "sha256": hex}], "bufsize": bytes (None: HAProxy's default holds every file), "left":
    [{"path": str, "why": str}]}``. ``left`` are the files the sorry server answers instead
    (larger than ``max_file_bytes``, or a path haproxy.cfg cannot carry). A missing folder
    gives no files. Reads files only; raises nothing.

    root
        The page's folder (``haproxy_maint:page:root``).

    max_file_bytes
        The largest file held, in bytes (``haproxy_maint:visitor:max_file_bytes``).

    CLI Example:

    .. code-block:: bash

        salt-call haproxy_pillar.page_files /var/www 65536
    """
    return page_files_.page_files(root, int(max_file_bytes))
