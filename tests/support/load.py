"""Import a loader module by path under a unique name (modules and runners share names)."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_module(relative_path, name):
    """Import ``REPO/relative_path`` as ``name`` (e.g. ``_runners/haproxy_maint.py``)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
