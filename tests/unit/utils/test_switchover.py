"""switchover.apply_start: the order of the runtime calls, and the grace before closing."""

from saltext_haproxy_maint import switchover

CHANGED = {"app": ["app1", "app2"]}


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, function, **kwargs):
        self.calls.append(function if function != "set_states" else kwargs["changes"][0]["state"])
        if function == "wait_drained":
            return {
                "drained": False,
                "waited": kwargs["drain_timeout"],
                "sessions": {"app/app1": 1},
            }
        if function == "shutdown_servers_sessions":
            return {"app/app1": 1, "app/app2": 0}
        return None


def test_maint_mode_waits_the_grace_between_maint_and_closing(monkeypatch):
    calls = Recorder()
    monkeypatch.setattr(switchover.time, "sleep", lambda seconds: calls.calls.append(seconds))
    drain, closed = switchover.apply_start(
        calls, changed=CHANGED, mode="maint", drain_timeout=60, close_after=2
    )
    assert calls.calls == ["maint", 2, "shutdown_servers_sessions"]
    assert drain is None and closed == {"app/app1": 1, "app/app2": 0}


def test_drain_mode_closes_at_once_after_the_wait(monkeypatch):
    calls = Recorder()
    monkeypatch.setattr(switchover.time, "sleep", lambda seconds: calls.calls.append(seconds))
    drain, _closed = switchover.apply_start(
        calls, changed=CHANGED, mode="drain", drain_timeout=5, close_after=2
    )
    assert calls.calls == ["drain", "wait_drained", "maint", "shutdown_servers_sessions"]
    assert drain["drained"] is False


def test_nothing_to_move_sends_nothing():
    calls = Recorder()
    assert switchover.apply_start(
        calls, changed={}, mode="maint", drain_timeout=5, close_after=0
    ) == (None, {})
    assert calls.calls == []
