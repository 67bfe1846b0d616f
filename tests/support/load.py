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


def load_utils():
    """What Salt's loader gives modules as ``__utils__``: ``"module.function"`` -> function for
    every public function of ``_utils/``. Like Salt, the utils modules themselves get no
    ``__utils__``."""
    utils = {}
    for path in sorted((REPO / "_utils").glob("*.py")):
        module = load_module(f"_utils/{path.name}", f"haproxy_maint_tests_utils.{path.stem}")
        for attr in dir(module):
            value = getattr(module, attr)
            public = not attr.startswith("_") and not isinstance(value, type)
            if public and callable(value) and value.__module__ == module.__name__:
                utils[f"{path.stem}.{attr}"] = value
    return utils


def utils_module(name):
    """The module object of ``_utils/<name>.py`` as :py:func:`load_utils` loaded it."""
    load_utils()
    return sys.modules[f"haproxy_maint_tests_utils.{name}"]
