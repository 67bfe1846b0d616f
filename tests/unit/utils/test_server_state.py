"""server_state: a dump rewritten against the config about to be loaded."""

import pytest
from salt.exceptions import CommandExecutionError

from saltext_haproxy_maint import runtime, server_state

HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
    "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
    "srv_agent_port"
)
DUMP = "\n".join(
    [
        "1",
        HEADER,
        "3 app 1 app1 127.0.0.1 0 1 100 100 105 8 2 0 6 0 0 0 - 8001 - 0 0 - - 0",
        "3 app 2 app2 127.0.0.1 2 0 100 100 105 6 3 4 6 0 0 0 - 8002 - 0 0 - - 0",
        "3 app 3 app3 10.0.0.3 2 1 100 100 9 6 3 4 6 0 0 0 db.example 8003 - 0 0 - - 0",
        "3 app 4 gone 127.0.0.1 2 1 100 100 105 6 3 4 6 0 0 0 - 8004 - 0 0 - - 0",
        "",
    ]
)
CONFIG = """
global
  server-state-file /var/lib/haproxy/server-state
defaults
  default-server init-addr last,libc,none
frontend app
  bind :80
  default_backend app
backend app
  balance roundrobin
  server app1 127.0.0.1:8011 check  # the port changed
  server app2 127.0.0.1:8002 check
  server app3 db.example:8003 check
  server localhost 127.0.0.1:8080 backup check
listen stats
  server s1 ipv6@::1:9000
  server s2 [::1]:9001
backend dns  # no indentation below: HAProxy does not need it
server-template web 3 _http._tcp.web.example resolvers dns
server-template api 2-3 api.example:80
"""


def rows(text):
    return {(entry["backend"], entry["name"]): entry for entry in runtime.parse_servers_state(text)}


def test_config_servers_reads_backend_and_listen_sections():
    servers = server_state.config_servers(CONFIG)
    assert servers[("app", "app1")] == ("127.0.0.1", "8011")
    assert servers[("app", "app3")] == ("db.example", "8003")
    assert servers[("stats", "s1")] == ("::1", "9000")
    assert servers[("stats", "s2")] == ("::1", "9001")
    assert ("app", "gone") not in servers
    assert {key for key, value in servers.items() if value is None} == {
        ("dns", "web1"),
        ("dns", "web2"),
        ("dns", "web3"),
        ("dns", "api2"),
        ("dns", "api3"),
    }


def test_a_changed_port_is_the_configs_with_fresh_health_and_admin_state_kept():
    text, changes = server_state.reconcile(DUMP, server_state.config_servers(CONFIG))
    assert text.startswith("1\n") and text.endswith("\n")
    app1 = rows(text)[("app", "app1")]
    assert (app1["addr"], app1["port"], app1["admin_state"]) == ("127.0.0.1", 8011, 1)
    assert app1["op_state"] == 2, "health of the old port does not carry over"
    assert app1["check_status"] == 1, "initializing: HAProxy checks no server loaded 'unknown'"
    assert changes == {"readdressed": ["app/app1"], "dropped": ["app/gone"]}


def test_an_unchanged_server_keeps_its_line_and_a_removed_one_is_dropped():
    text, _ = server_state.reconcile(DUMP, server_state.config_servers(CONFIG))
    assert DUMP.splitlines()[3] in text.splitlines()
    assert DUMP.splitlines()[4] in text.splitlines(), "same name: its last address helps"
    assert ("app", "gone") not in rows(text)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.2:8002", ("127.0.0.2", "-", 8002)),  # another IP
        ("db2.example:8002", ("-", "db2.example", 8002)),  # a host name: the resolver decides
    ],
)
def test_a_changed_address_never_comes_back(address, expected):
    config = CONFIG.replace("server app2 127.0.0.1:8002", f"server app2 {address}")
    text, changes = server_state.reconcile(DUMP, server_state.config_servers(config))
    app2 = rows(text)[("app", "app2")]
    assert (app2["addr"], app2["fqdn"], app2["port"]) == expected
    assert "app/app2" in changes["readdressed"]


def test_a_templated_servers_line_is_kept_as_it_is():
    line = "4 dns 1 web1 10.0.0.9 2 1 100 100 9 6 3 4 6 0 0 0 a.web.example 8080 _http._tcp.web.example 0 0 - - 0"
    text, changes = server_state.reconcile(
        f"1\n{HEADER}\n{line}\n", server_state.config_servers(CONFIG)
    )
    assert line in text.splitlines() and changes == {"readdressed": [], "dropped": []}


def test_an_unreadable_config_is_named(tmp_path):
    with pytest.raises(CommandExecutionError, match=r"nowhere\.cfg"):
        server_state.read_config_servers(str(tmp_path / "nowhere.cfg"))
