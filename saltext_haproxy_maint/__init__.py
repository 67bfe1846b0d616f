"""The pip route: Salt's loader entry point, and the files an operator points the master at.

``get_loader_dirs`` hands Salt the same ``_modules``/``_states``/``_runners``/``_output`` that
file_roots users sync with ``saltutil.sync_all``; both routes load the same files. The wheel
also carries the state tree, the reactor SLS and the example configuration, so the pip route
needs no clone: ``python -m saltext_haproxy_maint paths`` prints where they are.
"""

import importlib.util

# Keys are the ext_type names Salt's loader asks entry points for (salt/loader/__init__.py:
# "modules", "states", "runners", and "output" for outputters, not "outputter"). Salt 3008
# reads no "utils" from entry points (utils() passes load_extensions=False): the master's and
# the minions' utils_dirs name the directory that `paths utils` prints; the key is kept for a
# Salt that does read it.
LOADER_KINDS = ("modules", "states", "runners", "utils", "output")

# What the master and minions are pointed at, by name: the root to add to file_roots (it
# holds the haproxy_maint state tree), the reactor SLS directory, the example configuration,
# and the shared code for utils_dirs.
OPERATOR_DIRS = ("formula", "reactor", "examples", "utils")


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
