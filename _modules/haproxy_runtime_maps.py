"""
HAProxy's maps and ACLs loaded from files, through the runtime API: part of the
``haproxy_runtime`` execution module (the same virtual name), kept in a file of its own.

An ACL or a map that haproxy.cfg loads with ``-f <file>`` is named on the socket by that
file's path. Changes through these commands take effect at once but live in memory only;
whoever wants them to survive a reload writes the file too. Every command goes through
``haproxy_runtime.batch``; files, keys and values are checked before anything is sent
(:py:func:`saltext_haproxy_maint.runtime.check_pattern_file`).
"""

from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import runtime

__virtualname__ = "haproxy_runtime"


def __virtual__():
    return __virtualname__


def _batch(commands, socket, timeout):
    # Through haproxy_runtime.batch: the one function that opens the runtime socket.
    return __salt__["haproxy_runtime.batch"](commands, socket=socket, timeout=timeout)


def _run_checked(commands, socket, timeout, labels):
    """Run commands that answer nothing on success; raise naming each one that failed."""
    return runtime.check_silent(labels, _batch(commands, socket, timeout))


def _run_query(command, socket, timeout):
    return runtime.check_answer(command, _batch([command], socket, timeout)[0])


def list_maps(socket=None, timeout=None):
    """
    Return the maps the running HAProxy loaded from files: ``[{"id": int, "file": path}]``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.list_maps
    """
    return runtime.parse_map_list(_run_query("show map", socket, timeout))


def list_acls(socket=None, timeout=None):
    """
    Return the ACLs the running HAProxy loaded from files (``-f <file>``):
    ``[{"id": int, "file": path}]``. Sends ``show acl``; raises ``CommandExecutionError``
    when HAProxy cannot be reached or refuses it.

    socket, timeout
        The runtime socket (unix path or ``host:port``) and seconds, as for
        :py:func:`list_maps`.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.list_acls
    """
    return runtime.parse_map_list(_run_query("show acl", socket, timeout))


def show_map(map_file, socket=None, timeout=None):
    """
    Return the entries of a map loaded from a file, as ``{key: value}``.

    map_file
        The map's file, as haproxy.cfg names it.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.show_map /var/lib/haproxy-maint/visitor/maintenance.map
    """
    command = f"show map {runtime.check_pattern_file(map_file, 'map')}"
    answer = _batch([command], socket, timeout)[0]
    return {
        entry[0]: entry[1] if len(entry) > 1 else ""
        for entry in runtime.parse_entries(answer, command)
    }


def show_acl(acl_file, socket=None, timeout=None):
    """
    Return the patterns of an ACL loaded from a file, as a list.

    acl_file
        The ACL's file, as haproxy.cfg names it.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.show_acl /var/lib/haproxy-maint/visitor/bypass.acl
    """
    command = f"show acl {runtime.check_pattern_file(acl_file, 'ACL')}"
    answer = _batch([command], socket, timeout)[0]
    return [" ".join(entry) for entry in runtime.parse_entries(answer, command)]


def replace_map(map_file, entries, socket=None, timeout=None):
    """
    Make a map hold exactly ``entries``: ``clear map``, then ``add map`` for each entry, over
    one connection. Every key and value is checked before anything is sent.

    map_file
        The map's file, as haproxy.cfg names it.

    entries
        ``{key: value}``; keys and values of letters, digits and ``_.:/+=@-``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.replace_map /var/lib/haproxy-maint/visitor/maintenance.map '{app: 0}'
    """
    map_file = runtime.check_pattern_file(map_file, "map")
    if not isinstance(entries, dict):
        raise SaltInvocationError("entries must be a mapping of key to value")
    commands = [f"clear map {map_file}"]
    for key, value in sorted(entries.items()):
        key = runtime.check_pattern_value(key, "map key")
        commands.append(
            f"add map {map_file} {key} {runtime.check_pattern_value(value, 'map value')}"
        )
    _run_checked(commands, socket, timeout, [map_file, *sorted(entries)])
    return dict(entries)


def replace_acl(acl_file, patterns, socket=None, timeout=None):
    """
    Make an ACL hold exactly ``patterns``: ``clear acl``, then ``add acl`` for each one, over
    one connection. Every pattern is checked before anything is sent.

    acl_file
        The ACL's file, as haproxy.cfg names it.

    patterns
        A list of patterns (addresses, CIDRs, words) of letters, digits and ``_.:/+=@-``.

    socket
        Unix socket path or ``host:port``; default from config.

    timeout
        Seconds; default from config, else 5.

    CLI Example:

    .. code-block:: bash

        salt lb1 haproxy_runtime.replace_acl /var/lib/haproxy-maint/visitor/bypass.acl '[192.0.2.0/28]'
    """
    acl_file = runtime.check_pattern_file(acl_file, "ACL")
    if not isinstance(patterns, (list, tuple)):
        raise SaltInvocationError("patterns must be a list")
    patterns = [runtime.check_pattern_value(pattern, "ACL pattern") for pattern in patterns]
    commands = [f"clear acl {acl_file}"] + [f"add acl {acl_file} {p}" for p in patterns]
    _run_checked(commands, socket, timeout, [acl_file, *patterns])
    return patterns
