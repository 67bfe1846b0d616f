"""
Install Node.js packages with npm (the ``npm.installed`` state).

Salt 3008 ships the ``npm`` execution module but no longer its state module; this
one restores ``npm.installed`` for what this state tree needs: one package at an
exact version, global (``dir`` unset) or in a directory. It loads only where
Salt has no such state (``__virtual__``), under its own file name, so it never hides
Salt's own.
"""

import importlib.util

from salt.exceptions import CommandExecutionError

__virtualname__ = "npm"


def __virtual__():
    """Only where Salt has no ``npm`` state of its own (Salt 3008 dropped it): a Salt that
    ships one (3007) keeps its own, complete one."""
    if importlib.util.find_spec("salt.states.npm") is not None:
        return (False, "Salt ships its own npm state; this fallback stays unloaded")
    if "npm.status" not in __salt__ and "npm.list" not in __salt__:
        return (False, "the npm execution module is not available")
    return __virtualname__


def _split_spec(name):
    """``pkg@1.2.3`` -> ``("pkg", "1.2.3")``; a scoped ``@scope/pkg`` keeps its @."""
    package, sep, version = name.rpartition("@")
    if not sep or not package:
        return name, None
    return package, version


def installed(name, dir=None, user=None, registry=None, env=None):
    """
    Make sure an npm package is installed, at a version when one is given.

    name
        The package, ``name`` or ``name@version`` (an exact version).

    dir
        Install into this directory; unset installs globally (``npm -g``).

    user
        Run npm as this user.

    registry
        The npm registry to install from; unset uses npm's configuration.

    env
        Environment variables for npm, as for ``cmd.run``.

    Example:

    .. code-block:: yaml

        http-server@14.1.1:
          npm.installed
    """
    ret = {"name": name, "result": True, "comment": "", "changes": {}}
    package, version = _split_spec(name)
    try:
        found = __salt__["npm.list"](pkg=package, dir=dir, runas=user, env=env, depth=0)
    except CommandExecutionError as err:
        return {**ret, "result": False, "comment": f"Cannot list npm package {package}: {err}"}
    current = (found.get(package) or {}).get("version")
    if current and (version is None or current == version):
        return {**ret, "comment": f"npm package {package} {current} is installed"}
    if __opts__["test"]:
        return {**ret, "result": None, "comment": f"Would have installed npm package {name}"}
    try:
        __salt__["npm.install"](pkg=name, dir=dir, runas=user, registry=registry, env=env)
        found = __salt__["npm.list"](pkg=package, dir=dir, runas=user, env=env, depth=0)
    except CommandExecutionError as err:
        return {**ret, "result": False, "comment": f"Cannot install npm package {name}: {err}"}
    new = (found.get(package) or {}).get("version")
    if not new or (version is not None and new != version):
        return {
            **ret,
            "result": False,
            "comment": f"npm installed {name}, but npm lists {package} at {new}",
        }
    ret["changes"] = {package: {"old": current, "new": new}}
    ret["comment"] = f"Installed npm package {package} {new}"
    return ret
