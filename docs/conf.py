"""Sphinx configuration: MyST pages, furo theme, autodoc of every Salt module of the project.

The loader modules live in Salt's file_roots layout (``_modules/``, ``_states/``,
``_runners/``, ``_output/``) and several of them share the name ``haproxy_maint``, so each file is
loaded under its own module name here. They touch the loader dunders (``__salt__``,
``__opts__``, ...) only when called, so importing them needs nothing but Salt and the shared
package ``saltext_haproxy_maint`` (in ``_utils/``, put on the path here as Salt's loader does).
"""

import importlib.util
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# documented name -> file; the reference pages use these names in ``automodule``.
MODULE_FILES = {
    "haproxy_runtime": "_modules/haproxy_runtime.py",
    "haproxy_maint_module": "_modules/haproxy_maint.py",
    "haproxy_maint_config": "_modules/haproxy_maint_config.py",
    "haproxy_maint_request": "_modules/haproxy_maint_request.py",
    "haproxy_pillar": "_modules/haproxy_pillar.py",
    "haproxy_server": "_states/haproxy_server.py",
    "haproxy_maint_state": "_states/haproxy_maint.py",
    "haproxy_maint_npm": "_states/haproxy_maint_npm.py",
    "haproxy_maint_supervisord": "_states/haproxy_maint_supervisord.py",
    "haproxy_maint_runner": "_runners/haproxy_maint.py",
    "haproxy_maint_output": "_output/haproxy_maint.py",
    "haproxy_runtime_maps": "_modules/haproxy_runtime_maps.py",
    "haproxy_runtime_sessions": "_modules/haproxy_runtime_sessions.py",
}
sys.path.insert(0, str(ROOT / "_utils"))


def _load(name, relative_path):
    spec = importlib.util.spec_from_file_location(name, ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


for _name, _path in MODULE_FILES.items():
    _load(_name, _path)

project = "haproxy-maint"
author = "haproxy-maint maintainers"
copyright = "haproxy-maint maintainers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# docs/dev holds developer notes kept beside the code; the operator docs do not build them.
exclude_patterns = ["_build", "dev/**", "Thumbs.db", ".DS_Store"]

# deflist: the field descriptions in events.md.
myst_enable_extensions = ["deflist"]
myst_heading_anchors = 3

# Document the functions in source order, as they read in the module; Salt loader
# functions (__virtual__) and private helpers stay out.
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False}
# Signatures show the defaults as written (e.g. socket=None), not evaluated objects.
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = "haproxy-maint"
html_static_path = ["_static"]
# Signatures read start(...) rather than haproxy_maint_module.start(...): the page's heading
# gives the Salt name.
add_module_names = False
