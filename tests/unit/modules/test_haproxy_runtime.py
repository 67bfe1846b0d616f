"""Parsers, validation and error mapping of haproxy_runtime, without a running haproxy."""

import socket as socketlib
import sys
from pathlib import Path

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "_modules"))
import haproxy_runtime

STAT = (
    "# pxname,svname,qcur,scur,status,weight,bck,type,addr,check_status,\n"
    "app,app1,0,3,UP,100,0,2,10.0.0.1:80,L7OK,\n"
    "app,localhost,0,0,no check,100,1,2,127.0.0.1:8080,,\n"
    "app,BACKEND,0,3,UP,100,0,1,,,\n"
    "www,FRONTEND,,5,OPEN,,,0,,,\n"
)
SERVERS_STATE = (
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n"
    "2 app 1 app1 10.0.0.1 2 0 100\n"
    "2 app 2 app2 10.0.0.2 0 1 100\n"
    "2 app 3 app3 10.0.0.3 2 8 100\n"
    "2 app 4 app4 10.0.0.4 0 5 100\n"
)


@pytest.fixture(autouse=True)
def loader_dunders(monkeypatch):
    monkeypatch.setattr(haproxy_runtime, "__context__", {}, raising=False)
    monkeypatch.setattr(
        haproxy_runtime,
        "__salt__",
        {"config.get": lambda key, default=None: default},
        raising=False,
    )


def test_parse_stat_types_and_backup():
    rows = haproxy_runtime.parse_stat(STAT)
    app1, sorry, backend, frontend = rows
    assert app1["scur"] == 3 and app1["status"] == "UP" and app1["backup"] is False
    assert sorry["backup"] is True and sorry["check_status"] is None
    assert backend["type_name"] == "backend" and frontend["type_name"] == "frontend"
    assert app1["addr"] == "10.0.0.1:80"


def test_parse_stat_rejects_garbage():
    with pytest.raises(CommandExecutionError):
        haproxy_runtime.parse_stat("Unknown command")


def test_parse_servers_state_decodes_admin_bits():
    servers = {entry["name"]: entry for entry in haproxy_runtime.parse_servers_state(SERVERS_STATE)}
    assert servers["app1"]["admin"] == "ready" and servers["app1"]["op"] == "running"
    assert servers["app2"]["admin"] == "maint" and servers["app2"]["admin_flags"] == ["FMAINT"]
    assert servers["app3"]["admin"] == "drain" and servers["app3"]["admin_flags"] == ["FDRAIN"]
    assert servers["app4"]["admin"] == "maint"
    assert servers["app4"]["admin_flags"] == ["FMAINT", "CMAINT"]
    assert servers["app2"]["backend"] == "app"


def test_parse_servers_state_wants_version_1():
    with pytest.raises(CommandExecutionError):
        haproxy_runtime.parse_servers_state("2\n# be_id\n")


def test_parse_info():
    info = haproxy_runtime.parse_info("Name: HAProxy\nVersion: 2.6.12\nPid: 42\nUptime: 0d 0h\n")
    assert info == {"Name": "HAProxy", "Version": "2.6.12", "Pid": 42, "Uptime": "0d 0h"}


@pytest.mark.parametrize("name", ["app", "app-1", "a_b.c:d", "A" * haproxy_runtime.NAME_MAX_LENGTH])
def test_valid_names(name):
    assert haproxy_runtime.validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "a;b", "a\nb", "a b", "a/b", "a\tb", "é", "A" * 101, None, 5, ["a"]],
)
def test_invalid_names(name):
    with pytest.raises(SaltInvocationError):
        haproxy_runtime.validate_name(name, "server")


@pytest.mark.parametrize(
    ("socket", "expected"),
    [
        ("/run/haproxy/admin.sock", (socketlib.AF_UNIX, "/run/haproxy/admin.sock")),
        ("unix@/run/a.sock", (socketlib.AF_UNIX, "/run/a.sock")),
        ("127.0.0.1:9999", (socketlib.AF_INET, ("127.0.0.1", 9999))),
        ("ipv4@127.0.0.1:9999", (socketlib.AF_INET, ("127.0.0.1", 9999))),
        ("[::1]:9999", (socketlib.AF_INET6, ("::1", 9999))),
    ],
)
def test_parse_socket(socket, expected):
    assert haproxy_runtime.parse_socket(socket) == expected


@pytest.mark.parametrize(
    "socket", ["relative.sock", "127.0.0.1", "127.0.0.1:0", "host:99999", "", "/a\nb", None]
)
def test_parse_socket_refuses(socket):
    with pytest.raises(SaltInvocationError):
        haproxy_runtime.parse_socket(socket)


def test_split_answers_maps_each_command():
    text = "\n> Name: HAProxy\n\n> \n> No such server.\n\n> "
    answers = haproxy_runtime._split_answers(text, ["show info", "set a", "set b"], "sock")
    assert answers == ["Name: HAProxy", "", "No such server."]


def test_split_answers_short_reply_raises():
    with pytest.raises(CommandExecutionError) as err:
        haproxy_runtime._split_answers("\n> \n> ", ["a", "b", "c"], "sock")
    assert "1 of 3" in str(err.value)


def test_failed_set_command_raises_naming_it(monkeypatch):
    monkeypatch.setattr(
        haproxy_runtime, "_batch", lambda *a, **k: ["", "No such server.\n"], raising=True
    )
    with pytest.raises(CommandExecutionError) as err:
        haproxy_runtime.set_states(
            [
                {"backend": "app", "server": "app1", "state": "maint"},
                {"backend": "app", "server": "app9", "state": "maint"},
            ]
        )
    assert "app/app9: No such server." in str(err.value)
    assert "1 applied" in str(err.value)


@pytest.mark.parametrize(
    "change",
    [
        {"backend": "app", "server": "app1", "state": "up"},
        {"backend": "app;x", "server": "app1", "state": "maint"},
        {"backend": "app", "state": "maint"},
        "app/app1",
    ],
)
def test_set_states_validates_before_sending(monkeypatch, change):
    def never(*args, **kwargs):
        raise AssertionError("nothing may be sent")

    monkeypatch.setattr(haproxy_runtime, "_batch", never)
    with pytest.raises(SaltInvocationError):
        haproxy_runtime.set_states([change])


@pytest.mark.parametrize("command", ["show info; show stat", "show info\nshow stat", "", "  "])
def test_batch_refuses_separators(command):
    with pytest.raises(SaltInvocationError):
        haproxy_runtime.batch([command], socket="/nonexistent.sock")


def test_timeout_must_be_positive():
    with pytest.raises(SaltInvocationError):
        haproxy_runtime.batch(["show info"], socket="/x.sock", timeout=0)


def test_save_servers_state_refuses_relative_path():
    with pytest.raises(SaltInvocationError):
        haproxy_runtime.save_servers_state(path="state")


# --- ACLs and maps loaded from files (issue 9) ----------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: haproxy_runtime.replace_acl("/v/bypass.acl", ["127.0.0.2/32; clear map /v/m"]),
        lambda: haproxy_runtime.replace_acl("/v/bypass.acl", ["10.0.0.0/8\nshutdown"]),
        lambda: haproxy_runtime.replace_acl("/v/bypass.acl", "127.0.0.2/32"),
        lambda: haproxy_runtime.replace_acl("v/bypass.acl", []),
        lambda: haproxy_runtime.replace_acl("/v/by pass.acl", []),
        lambda: haproxy_runtime.replace_map("/v/m.map", {"app;x": "0"}),
        lambda: haproxy_runtime.replace_map("/v/m.map", {"app": "0 1"}),
        lambda: haproxy_runtime.replace_map("/v/m.map", ["app"]),
        lambda: haproxy_runtime.show_map("/v/m.map;show info"),
    ],
)
def test_acl_and_map_input_is_checked_before_sending(monkeypatch, call):
    def never(*args, **kwargs):
        raise AssertionError("nothing may be sent")

    monkeypatch.setattr(haproxy_runtime, "_batch", never)
    with pytest.raises(SaltInvocationError):
        call()


def test_replace_map_sends_clear_then_adds_in_one_batch(monkeypatch):
    sent = []

    def batch(commands, socket, timeout):
        sent.append(commands)
        return [""] * len(commands)

    monkeypatch.setattr(haproxy_runtime, "_batch", batch)
    haproxy_runtime.replace_map("/v/m.map", {"app": 0, "api": "1795730400"}, socket="/x.sock")
    assert sent == [
        ["clear map /v/m.map", "add map /v/m.map api 1795730400", "add map /v/m.map app 0"]
    ]
