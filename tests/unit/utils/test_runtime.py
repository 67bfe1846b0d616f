"""The runtime protocol (saltext_haproxy_maint.runtime): parsers, names, sockets, answers."""

import socket as socketlib

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from saltext_haproxy_maint import names
from saltext_haproxy_maint import runtime as proto

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
    "2 app 5 app5 - 0 32 100\n"
    "2 app 6 app6 - 0 48 100\n"
)


def test_parse_stat_types_and_backup():
    rows = proto.parse_stat(STAT)
    app1, sorry, backend, frontend = rows
    assert app1["scur"] == 3 and app1["status"] == "UP" and app1["backup"] is False
    assert sorry["backup"] is True and sorry["check_status"] is None
    assert backend["type_name"] == "backend" and frontend["type_name"] == "frontend"
    assert app1["addr"] == "10.0.0.1:80"


def test_parse_stat_rejects_garbage():
    with pytest.raises(CommandExecutionError):
        proto.parse_stat("Unknown command")


def test_parse_servers_state_decodes_admin_bits():
    servers = {entry["name"]: entry for entry in proto.parse_servers_state(SERVERS_STATE)}
    assert servers["app1"]["admin"] == "ready" and servers["app1"]["op"] == "running"
    assert servers["app2"]["admin"] == "maint" and servers["app2"]["admin_flags"] == ["FMAINT"]
    assert servers["app3"]["admin"] == "drain" and servers["app3"]["admin_flags"] == ["FDRAIN"]
    assert servers["app4"]["admin"] == "maint"
    assert servers["app4"]["admin_flags"] == ["FMAINT", "CMAINT"]
    assert servers["app2"]["backend"] == "app"


def test_only_the_forced_bits_make_the_forced_state():
    servers = {entry["name"]: entry for entry in proto.parse_servers_state(SERVERS_STATE)}
    # app5: no address (RMAINT), nobody's MAINT; app6: no address and an inherited DRAIN.
    assert servers["app5"]["admin"] == "maint" and servers["app5"]["forced"] == "ready"
    assert servers["app5"]["admin_flags"] == ["RMAINT"]
    assert servers["app6"]["forced"] == "ready"
    assert [servers[name]["forced"] for name in ("app2", "app3", "app4")] == [
        "maint",
        "drain",
        "maint",
    ]


def test_parse_servers_state_wants_version_1():
    with pytest.raises(CommandExecutionError):
        proto.parse_servers_state("2\n# be_id\n")


def test_parse_info():
    info = proto.parse_info("Name: HAProxy\nVersion: 2.6.12\nPid: 42\nUptime: 0d 0h\n")
    assert info == {"Name": "HAProxy", "Version": "2.6.12", "Pid": 42, "Uptime": "0d 0h"}


@pytest.mark.parametrize("name", ["app", "app-1", "a_b.c:d", "A" * names.NAME_MAX_LENGTH])
def test_valid_names(name):
    assert names.check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "a;b", "a\nb", "a b", "a/b", "a\tb", "é", "A" * 101, None, 5, ["a"]],
)
def test_invalid_names(name):
    with pytest.raises(SaltInvocationError):
        names.check_name(name, "server")


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
    assert proto.parse_socket(socket) == expected


@pytest.mark.parametrize(
    "socket", ["relative.sock", "127.0.0.1", "127.0.0.1:0", "host:99999", "", "/a\nb", None]
)
def test_parse_socket_refuses(socket):
    with pytest.raises(SaltInvocationError):
        proto.parse_socket(socket)


def test_split_answers_maps_each_command():
    text = "\n> Name: HAProxy\n\n> \n> No such server.\n\n> "
    answers = proto.split_answers(text, 3, "sock")
    assert answers == ["Name: HAProxy", "", "No such server."]


def test_split_answers_short_reply_raises():
    with pytest.raises(CommandExecutionError) as err:
        proto.split_answers("\n> \n> ", 3, "sock")
    assert "1 of 3" in str(err.value)


def test_errors_are_typed_command_execution_errors():
    for kind in ("RuntimeUnreachable", "RuntimeAccessDenied", "RuntimeRefused"):
        assert issubclass(getattr(proto, kind), CommandExecutionError)
    assert not issubclass(proto.RuntimeAccessDenied, proto.RuntimeUnreachable)


def test_missing_socket_is_unreachable(tmp_path):
    with pytest.raises(proto.RuntimeUnreachable):
        proto.exchange(str(tmp_path / "none.sock"), ["show info"], 1.0)


def test_refused_connection_is_unreachable():
    listener = socketlib.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(proto.RuntimeUnreachable):
        proto.exchange(f"127.0.0.1:{port}", ["show info"], 1.0)


def test_error_answer_is_refused():
    with pytest.raises(proto.RuntimeRefused):
        proto.check_answer("show stat", "Unknown command: 'show stat'")


def test_set_state_commands_builds_the_batch():
    changes = [{"backend": "app", "server": f"app{n}", "state": "maint"} for n in range(3)]
    commands, labels = proto.set_state_commands(changes)
    assert commands == [f"set server app/app{n} state maint" for n in range(3)]
    assert labels == ["app/app0", "app/app1", "app/app2"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (
            {"backend": "app", "server": "a1\nset server app/a2 state ready", "state": "maint"},
            "server",
        ),
        ({"backend": "app", "server": "a1\rx", "state": "maint"}, "server"),
        ({"backend": "app;x", "server": "a1", "state": "maint"}, "backend"),
        ({"backend": "app", "server": "a 1", "state": "maint"}, "server"),
        ({"backend": "app", "server": "a/1", "state": "maint"}, "server"),
        ({"backend": "app", "server": "a" * 65, "state": "maint"}, "server"),
        ({"backend": "app", "server": "", "state": "maint"}, "server"),
        ({"backend": "app", "server": 5, "state": "maint"}, "server"),
        ({"backend": "app", "server": "a1", "state": "up"}, "state"),
        ({"backend": "app", "server": "a1", "state": "maint\nshutdown sessions"}, "state"),
    ],
)
def test_set_state_commands_refuses_any_bad_change_in_a_batch(change, why):
    good = {"backend": "app", "server": "a0", "state": "ready"}
    with pytest.raises(SaltInvocationError, match=why):
        proto.set_state_commands([good, change, good])
