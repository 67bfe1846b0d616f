"""haproxy_server states under Salt's state loader, both with and without test=True."""

import pytest

from harness.haproxy import free_port

BACKENDS = {"app": {"app1": "127.0.0.1:1", "app2": "127.0.0.1:2"}}


@pytest.fixture
def haproxy(haproxy_factory):
    return haproxy_factory(BACKENDS, sorry_address=f"127.0.0.1:{free_port()}")


@pytest.fixture(params=[True, False], ids=["testmode", "applied"])
def testmode(request):
    return request.param


def admin(modules, haproxy):
    status = modules.haproxy_runtime.server_status(socket=haproxy.socket)["app"]
    return {name: info["admin"] for name, info in status.items()}


def test_maint_whole_backend(states, modules, haproxy, testmode):
    ret = states.haproxy_server.maint(name="app", socket=haproxy.socket, test=testmode)
    assert ret.changes == {
        "app1": {"old": "ready", "new": "maint"},
        "app2": {"old": "ready", "new": "maint"},
    }
    after = admin(modules, haproxy)
    if testmode:
        assert ret.result is None
        assert after == {"app1": "ready", "app2": "ready", "localhost": "ready"}
    else:
        assert ret.result is True
        assert after == {"app1": "maint", "app2": "maint", "localhost": "ready"}


def test_second_run_changes_nothing(states, haproxy, testmode):
    assert states.haproxy_server.drain(name="app", servers=["app1"], socket=haproxy.socket).result
    ret = states.haproxy_server.drain(
        name="app", servers=["app1"], socket=haproxy.socket, test=testmode
    )
    assert ret.result is True
    assert ret.changes == {}
    assert "already drain" in ret.comment


def test_ready_restores_only_named_servers(states, modules, haproxy, testmode):
    modules.haproxy_runtime.set_servers_state("app", "maint", socket=haproxy.socket)
    ret = states.haproxy_server.ready(
        name="app", servers=["app2"], socket=haproxy.socket, test=testmode
    )
    assert list(ret.changes) == ["app2"]
    expected = "maint" if testmode else "ready"
    assert admin(modules, haproxy) == {"app1": "maint", "app2": expected, "localhost": "ready"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "ghost"}, "ghost"),
        ({"name": "app", "servers": ["ghost"]}, "ghost"),
        ({"name": "app", "servers": ["app1;shutdown sessions server app/app2"]}, "invalid server"),
        ({"name": "app", "servers": "app1"}, "not a string"),
        ({"name": "app", "socket": "/nonexistent.sock"}, "/nonexistent.sock"),
    ],
    ids=["unknown-backend", "unknown-server", "injection", "string-not-list", "no-socket"],
)
def test_bad_input_fails_and_changes_nothing(states, modules, haproxy, testmode, kwargs, fragment):
    kwargs = {"socket": haproxy.socket, **kwargs}
    before = haproxy.server_states()
    ret = states.haproxy_server.maint(test=testmode, **kwargs)
    assert ret.result is False
    assert fragment in ret.comment
    assert ret.changes == {}
    assert haproxy.server_states() == before


def test_a_server_without_address_is_declared_by_its_forced_state(
    states, modules, haproxy_factory, testmode
):
    # app3's name does not resolve: HAProxy keeps it in MAINT by itself (RMAINT). That is
    # not a MAINT anybody declared: ready holds as it is, maint sets FMAINT on top.
    haproxy = haproxy_factory(
        {"app": {"app1": "127.0.0.1:1", "app3": "app3.invalid:3"}},
        default_server="init-addr last,libc,none",
    )
    ret = states.haproxy_server.ready(name="app", socket=haproxy.socket, test=testmode)
    assert ret.result is True and ret.changes == {}
    ret = states.haproxy_server.maint(
        name="app", servers=["app3"], socket=haproxy.socket, test=testmode
    )
    assert ret.changes == {"app3": {"old": "ready", "new": "maint"}}
    flags = modules.haproxy_runtime.server_status(socket=haproxy.socket)["app"]["app3"]
    assert flags["admin_flags"] == (["RMAINT"] if testmode else ["FMAINT", "RMAINT"])
