"""
saltext-haproxy-maint's own package: the shared code that the execution modules, states,
runner and outputter import by name, and the pip route's loader entry point.

The shared code, one topic a module:

- :py:mod:`~saltext_haproxy_maint.names`: the one name rule, event tags, config keys;
- :py:mod:`~saltext_haproxy_maint.request`: a maintenance request's fields and checks;
- :py:mod:`~saltext_haproxy_maint.lbconfig`: an LB's configuration (pillar over defaults);
- :py:mod:`~saltext_haproxy_maint.desired`: the desired state of an environment and its windows;
- :py:mod:`~saltext_haproxy_maint.runtime`: HAProxy's runtime API (wire, commands, parsers,
  typed errors);
- :py:mod:`~saltext_haproxy_maint.signing`, :py:mod:`~saltext_haproxy_maint.files`,
  :py:mod:`~saltext_haproxy_maint.events`, :py:mod:`~saltext_haproxy_maint.timefmt`;
- the master's side of a request: :py:mod:`~saltext_haproxy_maint.master_config`,
  :py:mod:`~saltext_haproxy_maint.sender`, :py:mod:`~saltext_haproxy_maint.register`,
  :py:mod:`~saltext_haproxy_maint.fanout`, :py:mod:`~saltext_haproxy_maint.windows`,
  :py:mod:`~saltext_haproxy_maint.handling`; the operator's :py:mod:`~saltext_haproxy_maint.client`.

How it is importable: on the pip route it is an installed package. On the file_roots route it
lives in ``_utils/``, which ``saltutil.sync_all`` copies to every minion's and the master's
extension modules; Salt's loader puts the utils directories on ``sys.path`` while it loads a
module, state or runner, so their top-level ``import saltext_haproxy_maint...`` finds it there.
This file imports nothing of the package, so that loading it as a utils module costs nothing.

``get_loader_dirs`` hands Salt the same ``_modules``/``_states``/``_runners``/``_output`` that
file_roots users sync with ``saltutil.sync_all``; both routes load the same files. The wheel
also carries the state tree, the reactor SLS and the example configuration, so the pip route
needs no clone: ``python -m saltext_haproxy_maint paths`` prints where they are.
"""

import importlib.util

# Keys are the ext_type names Salt's loader asks entry points for (salt/loader/__init__.py:
# "modules", "states", "runners", and "output" for outputters, not "outputter").
LOADER_KINDS = ("modules", "states", "runners", "output")

# What the master is pointed at, by name: the root to add to file_roots (it holds the
# haproxy_maint state tree), the reactor SLS directory and the example configuration.
OPERATOR_DIRS = ("formula", "reactor", "examples")


def _package_dirs(subpackage):
    spec = importlib.util.find_spec(f"{__name__}.{subpackage}")
    if spec is None or not spec.submodule_search_locations:
        return []
    return list(spec.submodule_search_locations)


def get_loader_dirs():
    """Return ``{loader kind: [directory]}`` for Salt's ``salt.loader`` entry point."""
    return {kind: dirs for kind in LOADER_KINDS if (dirs := _package_dirs(kind))}


def operator_dirs():
    """Return ``{name: directory}`` for every name of :py:data:`OPERATOR_DIRS` that this
    installation has (a source checkout that is not installed has none of them)."""
    return {name: dirs[0] for name in OPERATOR_DIRS if (dirs := _package_dirs(name))}
