"""
HAProxy's server-state file, made to carry only what should survive a reload.

HAProxy loads ``server-state-file`` at start (``load-server-state-from-file global``) and,
by its design (haproxy/haproxy#1412, #2103), applies the file's port to a server whatever
the new config says, and its address wherever ``init-addr`` starts with ``last``. A file
dumped from the running HAProxy therefore puts an old address or port back after a reload
that changes them. :py:func:`reconcile` rewrites the dump against the config that is about
to be loaded:

- a server the config no longer declares (removed, renamed, moved to another backend): its
  line is dropped;
- a server whose address, port or host name differs: its line carries the config's (the
  host name with no address, so the resolver decides), and its health starts afresh (up,
  no check result), as for a new server; its admin state (MAINT, DRAIN) is kept;
- any other server: its line is kept as it is, health and last resolved address included;
  so is the line of a server that a ``server-template`` makes (its address comes from DNS,
  often an SRV record, not from the config).

:py:func:`config_servers` reads a config's servers: ``server <name> <address>`` and
``server-template <prefix> <count or range> ...`` lines of ``backend`` and ``listen``
sections.
"""

import ipaddress

from salt.exceptions import CommandExecutionError

from saltext_haproxy_maint import configcheck

PROXY_SECTIONS = ("backend", "listen")
ADDRESS_PREFIXES = ("ipv4@", "ipv6@")
NO_VALUE = "-"
# Fresh health for a server at a new address, as at first start: running, its check
# "initializing" (HCHK_STATUS_INI) with no result yet. Not "unknown" (0): HAProxy does not
# run the health checks of a server loaded with that status.
FRESH_HEALTH = {
    "srv_op_state": "2",
    "srv_time_since_last_change": "0",
    "srv_check_status": "1",
    "srv_check_result": "0",
}


def split_address(address):
    """
    ``(host, port)`` of a ``server`` line's address: ``10.0.0.1:80``, ``app.example:80``,
    ``[::1]:80``, ``ipv6@::1:80``; ``port`` is ``"0"`` when the address has none.

    address
        The address as haproxy.cfg writes it.
    """
    for prefix in ADDRESS_PREFIXES:
        if address.startswith(prefix):
            address = address[len(prefix) :]
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, rest.lstrip(":") or "0"
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or (host.count(":") and not _is_ip(host)):
        return address, "0"
    return host, port


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def config_servers(text):
    """
    The servers a config declares: ``{(backend, server): (host, port)}``; ``None`` in place
    of ``(host, port)`` for a server that a ``server-template`` makes.

    text
        haproxy.cfg's text.
    """
    servers = {}
    for keyword, proxy, lines in configcheck.sections(text):
        if keyword not in PROXY_SECTIONS:
            continue
        for line in lines:
            words = line.split(" ")
            if words[0] == "server" and len(words) > 2:
                servers[(proxy, words[1])] = split_address(words[2])
            elif words[0] == "server-template" and len(words) > 2:
                servers.update(dict.fromkeys(_template_names(proxy, words[1], words[2])))
    return servers


def _template_names(proxy, prefix, count):
    """``(proxy, name)`` of the servers ``server-template <prefix> <count>`` makes; a count is
    ``3`` (``<prefix>1`` to ``<prefix>3``) or a range ``2-5``."""
    first, _, last = count.partition("-")
    if not first.isdigit() or not (last or first).isdigit():
        return []
    start, end = (int(first), int(last)) if last else (1, int(first))
    return [(proxy, f"{prefix}{number}") for number in range(start, end + 1)]


def read_config_servers(path):
    """
    :py:func:`config_servers` of a file; raises ``CommandExecutionError`` naming it when it
    cannot be read.

    path
        haproxy.cfg.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return config_servers(handle.read())
    except OSError as err:
        raise CommandExecutionError(f"cannot read the HAProxy config {path}: {err}") from err


def reconcile(dump, servers):
    """
    Rewrite a ``show servers state`` dump (format version 1) for ``servers`` (see the
    module's rules). Returns ``(text, {"readdressed": ["backend/server"], "dropped":
    [...]})``; the text keeps the version line first and ends with a newline.

    dump
        The raw answer of ``show servers state``.

    servers
        :py:func:`config_servers` of the config about to be loaded.
    """
    lines = dump.splitlines()
    header, kept = [], lines[:1]
    readdressed, dropped = [], []
    for line in lines[1:]:
        if line.startswith("#"):
            header = line[1:].split()
            kept.append(line)
            continue
        fields = dict(zip(header, line.split()))
        if not fields:
            continue
        key = (fields.get("be_name"), fields.get("srv_name"))
        label = "/".join(key)
        if key not in servers:
            dropped.append(label)
            continue
        if servers[key] is None or _same_address(fields, *servers[key]):
            kept.append(line)
            continue
        host, port = servers[key]
        ip = _is_ip(host)
        fields.update(
            FRESH_HEALTH,
            srv_addr=host if ip else NO_VALUE,
            srv_fqdn=NO_VALUE if ip else host,
            srv_port=port,
        )
        readdressed.append(label)
        kept.append(" ".join(fields[column] for column in header))
    return "\n".join(kept) + "\n", {"readdressed": readdressed, "dropped": dropped}


def _same_address(fields, host, port):
    if fields.get("srv_port") != port:
        return False
    if _is_ip(host):
        return fields.get("srv_addr") == host and fields.get("srv_fqdn") in (NO_VALUE, None)
    return fields.get("srv_fqdn") == host
