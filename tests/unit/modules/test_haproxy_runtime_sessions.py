"""haproxy_runtime's sessions functions without a running haproxy: names checked before
anything is sent, the batch they send, and what they count."""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from _modules import haproxy_runtime_sessions as sessions

STAT = (
    "# pxname,svname,scur,type\napp,app1,3,2\napp,app2,0,2\napp:bypass,app1,5,2\napp,BACKEND,3,1\n"
)


@pytest.fixture
def sent(monkeypatch):
    batches = []

    def batch(commands, socket=None, timeout=None):
        batches.append(commands)
        return [STAT] + ["" for _ in commands[1:]]

    monkeypatch.setattr(sessions, "__salt__", {"haproxy_runtime.batch": batch}, raising=False)
    return batches


def test_one_batch_closes_every_server_and_counts_what_each_had(sent):
    closed = sessions.shutdown_servers_sessions({"app": ["app1", "app2"]})
    assert sent == [
        [
            "show stat",
            "shutdown sessions server app/app1",
            "shutdown sessions server app/app2",
        ]
    ]
    assert closed == {"app/app1": 3, "app/app2": 0}, "the bypass backend's app1 is another"


@pytest.mark.parametrize(
    "servers",
    [{"app;x": ["app1"]}, {"app": ["app1\nshow info"]}, {"app": [7]}, ["app/app1"], "app"],
)
def test_bad_names_are_refused_before_anything_is_sent(sent, servers):
    with pytest.raises(SaltInvocationError):
        sessions.shutdown_servers_sessions(servers)
    assert sent == []


def test_nothing_to_close_sends_nothing(sent):
    assert sessions.shutdown_servers_sessions({}) == {}
    assert sent == []


def test_a_refused_shutdown_names_the_server(monkeypatch):
    monkeypatch.setattr(
        sessions,
        "__salt__",
        {"haproxy_runtime.batch": lambda commands, **k: [STAT, "", "No such server.\n"]},
        raising=False,
    )
    with pytest.raises(CommandExecutionError, match="app/ghost"):
        sessions.shutdown_servers_sessions({"app": ["app1", "ghost"]})
