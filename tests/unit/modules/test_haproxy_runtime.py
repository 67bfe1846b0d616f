"""haproxy_runtime's commands without a running haproxy: what is checked before anything is
sent, and how refused commands are reported."""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from _modules import haproxy_runtime


@pytest.fixture(autouse=True)
def loader_dunders(monkeypatch):
    monkeypatch.setattr(haproxy_runtime, "__context__", {}, raising=False)
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
