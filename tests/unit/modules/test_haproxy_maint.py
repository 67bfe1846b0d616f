"""haproxy_maint decisions with a fake runtime: what start changes, what stop restores."""

import json
import time
from pathlib import Path

import pytest
import yaml
from salt.exceptions import SaltInvocationError

from tests.support.load import REPO, load_module, load_utils

maint = load_module("_modules/haproxy_maint.py", "haproxy_maint_module")


class FakeRuntime:
    def __init__(self, servers):
        self.servers = servers  # {backend: {server: {"admin", "backup", ...}}}
        self.calls = []

    def server_status(self, socket=None):
        return {
            backend: {
                name: {"sessions": 0, "status": "UP", **info} for name, info in servers.items()
            }
            for backend, servers in self.servers.items()
        }

    worker_started = 0

    def show_info(self, socket=None):
        return {"Start_time_sec": self.worker_started}

    def set_states(self, changes, socket=None):
        self.calls.append(changes)
        for change in changes:
            self.servers[change["backend"]][change["server"]]["admin"] = change["state"]


@pytest.fixture
def runtime():
    return FakeRuntime(
        {
            "app": {
                "app1": {"admin": "ready", "backup": False},
                "app2": {"admin": "ready", "backup": False},
                "app3": {"admin": "maint", "backup": False},
                "localhost": {"admin": "ready", "backup": True},
            },
            "api": {
                "api1": {"admin": "drain", "backup": False},
                "localhost": {"admin": "ready", "backup": True},
            },
        }
    )


def backend(port, **extra):
    bind = {"http": f"127.0.0.1:{port + 1}", "https": ""}
    return {"servers": {"app1": f"127.0.0.1:{port}"}, "bind": bind, **extra}


@pytest.fixture
def pillar(tmp_path):
    return {
        "haproxy": {
            "backends": {
                "app": backend(9000),
                "api": backend(9010),
                "raw": backend(9020, sorry=False),
            },
            "config_file": str(tmp_path / "haproxy.cfg"),
        },
        "page": {"root": str(tmp_path / "www")},
        "maintenance": {"state_file": str(tmp_path / "desired.json"), "not_up_wait": 0},
    }


@pytest.fixture(autouse=True)
def loader(monkeypatch, tmp_path, runtime, pillar):
    defaults = (REPO / "salt/haproxy_maint/defaults.yaml").read_text()
    salt = {
        "config.get": lambda key, default=None: pillar if key == "haproxy_maint" else default,
        "cp.get_file_str": lambda url: defaults if url == maint.DEFAULTS_URL else None,
        "haproxy_runtime.server_status": runtime.server_status,
        "haproxy_runtime.set_states": runtime.set_states,
        "haproxy_runtime.save_servers_state": lambda path=None, socket=None: {"path": path},
        "haproxy_runtime.wait_drained": lambda *a, **k: {"drained": True, "waited": 0},
        "haproxy_runtime.show_info": runtime.show_info,
    }
    monkeypatch.setattr(maint, "__salt__", salt, raising=False)
    monkeypatch.setattr(maint, "__utils__", load_utils(), raising=False)
    monkeypatch.setattr(maint, "__context__", {}, raising=False)
    monkeypatch.setattr(maint, "_sorry_answers", lambda cfg: True)
    return tmp_path


def test_config_is_the_state_tree_defaults_with_pillar_over_them(pillar):
    tree = yaml.safe_load((REPO / "salt/haproxy_maint/defaults.yaml").read_text())
    config = maint.config()
    assert config["sorry_server"] == tree["haproxy_maint"]["sorry_server"]
    assert config["haproxy"]["backends"]["raw"]["sorry"] is False
    assert config["haproxy"]["backends"]["app"]["balance"] == "roundrobin", "backend_defaults"


def test_config_masks_the_tls_key(pillar):
    pillar["tls"] = {"pem": "-----BEGIN PRIVATE KEY-----\nsecret\n"}
    assert "secret" not in json.dumps(maint.config())
    assert maint.config()["tls"]["pem"] == maint.MASKED_VALUE


def test_backend_defaults_without_sorry_server_are_not_maintained(pillar):
    pillar["haproxy"]["backend_defaults"] = {"sorry": False}
    pillar["haproxy"]["backends"]["app"]["sorry"] = True
    assert maint.maintained_backends() == ["app"]


def test_maintained_backends_skip_those_without_sorry_server():
    assert maint.maintained_backends() == ["api", "app"]


def test_start_moves_only_ready_servers_and_records_them(runtime, loader):
    result = maint.start(reason="Upgrade <b>", eta="1h")
    assert result["changed"] == {"app": ["app1", "app2"]}
    assert result["left_alone"] == {"api": ["api1"]}
    record = json.loads(Path(loader / "desired.json").read_text())
    assert record["active"] is True and record["changed"] == {"app": ["app1", "app2"]}
    page = json.loads(Path(loader / "www/maintenance.json").read_text())
    assert page == {"active": True, "reason": "Upgrade <b>", "eta": "1h", "eta_at": ""}
    assert runtime.servers["app"]["localhost"]["admin"] == "ready"


def test_repeated_start_is_a_no_op(runtime):
    maint.start()
    runtime.calls.clear()
    assert maint.start()["state"] == "already in maintenance"
    assert runtime.calls == []


def test_stop_restores_only_what_start_changed(runtime, loader):
    maint.start()
    result = maint.stop()
    assert result["changed"] == {"app": ["app1", "app2"]}
    assert runtime.servers["app"]["app3"]["admin"] == "maint"
    assert runtime.servers["api"]["api1"]["admin"] == "drain"
    assert json.loads(Path(loader / "desired.json").read_text())["active"] is False
    assert maint.stop()["state"] == "not in maintenance"


def test_older_request_is_superseded(runtime):
    maint.start(stamp="2026-01-01T00:00:02.000000")
    result = maint.stop(stamp="2026-01-01T00:00:01.000000")
    assert result["state"] == "superseded"
    assert runtime.servers["app"]["app1"]["admin"] == "maint"


def test_reapply_puts_a_renamed_server_back(runtime, loader):
    (loader / "haproxy.cfg").write_text("")
    runtime.worker_started = int(time.time()) + 1
    maint.start()
    runtime.servers["app"]["app9"] = {"admin": "ready", "backup": False}
    assert maint.would_change() == {"app": ["app9"]}
    assert maint.reapply()["changed"] == {"app": ["app9"]}
    assert maint.stop()["changed"] == {"app": ["app1", "app2", "app9"]}


def test_reapply_without_maintenance_touches_nothing(runtime):
    assert maint.reapply()["state"] == "not in maintenance"
    assert runtime.calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backends": []},
        {"backends": "app"},
        {"backends": ["raw"]},
        {"backends": ["localhost"]},
        {"backends": ["app;x"]},
        {"mode": "restart"},
        {"drain_timeout": "10", "mode": "drain"},
        {"reason": "x" * 501},
        {"eta": "a\nb"},
    ],
)
def test_bad_input_changes_nothing(runtime, loader, kwargs):
    with pytest.raises(SaltInvocationError):
        maint.start(**kwargs)
    assert runtime.calls == []
    assert not Path(loader / "desired.json").exists()


def test_reapply_waits_for_the_worker_of_the_new_config(runtime, loader, monkeypatch):
    (loader / "haproxy.cfg").write_text("")
    maint.start()
    answers = iter([0, 0, int(time.time()) + 1])
    monkeypatch.setattr(runtime, "show_info", lambda socket=None: {"Start_time_sec": next(answers)})
    maint.__salt__["haproxy_runtime.show_info"] = runtime.show_info
    monkeypatch.setattr(maint, "RELOAD_POLL_INTERVAL", 0)
    maint.reapply()
    assert next(answers, "spent") == "spent", "reapply asked until a new worker answered"
