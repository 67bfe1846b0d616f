"""Loader entry point: lets Salt find this project's modules when it is pip-installed.

Operators who prefer file_roots sync ``_modules``/``_states``/``_runners``/``_utils``/``_output`` with
``saltutil.sync_all`` instead; both routes load the same files.
"""

import importlib.util

_KINDS = {
    "modules": "modules",
    "states": "states",
    "runners": "runners",
    "utils": "utils",
    "output": "output",
}


def get_loader_dirs():
    """Return ``{loader kind: [directory]}`` for Salt's ``salt.loader`` entry point."""
    dirs = {}
    for kind, subpackage in _KINDS.items():
        spec = importlib.util.find_spec(f"{__name__}.{subpackage}")
        if spec is not None and spec.submodule_search_locations:
            dirs[kind] = list(spec.submodule_search_locations)
    return dirs
