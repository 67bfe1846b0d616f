"""haproxy_runtime's commands without a running haproxy: what is checked before anything is
sent, and how refused commands are reported."""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from tests.support.load import load_module, load_utils

haproxy_runtime = load_module("_modules/haproxy_runtime.py", "haproxy_runtime_module")


@pytest.fixture(autouse=True)
def loader_dunders(monkeypatch):
    monkeypatch.setattr(haproxy_runtime, "__context__", {}, raising=False)
    monkeypatch.setattr(haproxy_runtime, "__utils__", load_utils(), raising=False)
    monkeypatch.setattr(
        haproxy_runtime,
        "__salt__",
        {"config.get": lambda key, default=None: default},
        raising=False,
    )


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
