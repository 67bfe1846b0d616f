"""
What the running HAProxy's config gives maintenance, on an LB whose haproxy.cfg another tool
renders (``haproxy_maint:haproxy:manage_config: false``): which of the parts that
``haproxy_maint`` relies on are there, and what each missing one costs. Part of the
``haproxy_maint`` execution module (the same virtual name), in a file of its own.

The rules are :py:mod:`saltext_haproxy_maint.configcheck`; the lines to add are in
docs/install.md ("You already manage haproxy.cfg").
"""

from salt.exceptions import CommandExecutionError

from saltext_haproxy_maint import configcheck

__virtualname__ = "haproxy_maint"


def __virtual__():
    return __virtualname__


def check_config():
    """
    Read the running HAProxy (through the runtime API) and its config file
    (``haproxy_maint:haproxy:config_file``), and say which parts maintenance needs are
    present.

    Returns ``{"config_file": path, "manage_config": bool, "complete": bool, "parts":
    {part: {...}}}`` with the parts ``sorry_backup`` (``backends``: those with the sorry
    server as ``backup``; ``without``: backends with app servers but no such server),
    ``admin_socket`` (``level``: the answer of ``show cli level`` on
    ``haproxy:runtime:socket``), ``state_file`` (``server_state_file``: what ``global``
    sets) and ``visitor`` (``not_loaded``: the visitor files HAProxy has not loaded). Each
    part has ``present`` (True, False, or None when HAProxy did not answer); a missing part
    has ``add`` (the lines, and where they go) and ``cost`` (what maintenance loses without
    it). Raises nothing for a config that lacks parts: that is the answer. An unreadable
    config file reads as empty (the ``state_file`` part is then missing).

    HAProxy commands sent, on one connection each: ``show cli level``; ``show stat`` with
    ``show servers state``; ``show map``; ``show acl``. Nothing is changed.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_maint.check_config
    """
    cfg = __salt__["haproxy_maint.config"]()
    socket = cfg["haproxy"]["runtime"]["socket"]
    try:
        with open(cfg["haproxy"]["config_file"], encoding="utf-8", errors="replace") as handle:
            config_text = handle.read()
    except OSError:
        config_text = ""
    try:
        cli_level = __salt__["haproxy_runtime.batch"](["show cli level"], socket=socket)[0]
        live = __salt__["haproxy_runtime.server_status"](socket=socket)
        loaded = {
            entry["file"]
            for entry in __salt__["haproxy_runtime.list_maps"](socket=socket)
            + __salt__["haproxy_runtime.list_acls"](socket=socket)
        }
    except CommandExecutionError as err:
        answer = configcheck.report(cfg, config_text=config_text, unreachable=err)
    else:
        answer = configcheck.report(
            cfg, config_text=config_text, live=live, loaded=loaded, cli_level=cli_level
        )
    return {
        "config_file": cfg["haproxy"]["config_file"],
        "manage_config": cfg["haproxy"]["manage_config"],
        **answer,
    }
