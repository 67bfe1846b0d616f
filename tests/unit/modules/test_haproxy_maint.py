"""haproxy_maint decisions with a fake runtime: what start changes, what stop restores."""

import json
import time
from pathlib import Path

import pytest
import yaml
from salt.exceptions import SaltInvocationError

from _modules import haproxy_maint as maint
from harness import REPO
from saltext_haproxy_maint import lbconfig, names

SECRET = "unit-test-bypass-secret-value"


# The srv_admin_state bit that `set server ... state` forces, by admin state.
FORCED = {"ready": [], "drain": ["FDRAIN"], "maint": ["FMAINT"]}


class FakeRuntime:
    def __init__(self, servers):
        self.servers = servers  # {backend: {server: {"admin", "backup", ...}}}
        self.calls = []
        self.closed = []
        self.patterns = {}

    def server_status(self, socket=None):
        return {
            backend: {
                name: {
                    "sessions": 0,
                    "status": "UP",
                    "admin_flags": list(FORCED[info["admin"]]),
                    **info,
                }
                for name, info in servers.items()
            }
            for backend, servers in self.servers.items()
        }

    worker_started = 0

    def show_info(self, socket=None):
        return {"Start_time_sec": self.worker_started}

    def set_states(self, changes, socket=None):
        self.calls.append(changes)
        for change in changes:
            server = self.servers[change["backend"]][change["server"]]
            # HAProxy's own bits stay; the forced ones are what the command says.
            kept = [
                flag for flag in server.pop("admin_flags", []) if flag not in ("FMAINT", "FDRAIN")
            ]
            server["admin"] = change["state"]
            if kept:
                server["admin_flags"] = kept + FORCED[change["state"]]

    def shutdown_servers_sessions(self, servers, socket=None):
        self.closed.append(servers)
        return {
            f"{backend}/{server}": self.servers[backend][server].get("sessions", 0)
            for backend, listed in servers.items()
            for server in listed
        }

    # The visitor's side: what the runtime map and ACL hold, keyed by file.
    maps_loaded = True

    def list_maps(self, socket=None):
        return [{"id": 0, "file": path} for path in self.patterns] if self.maps_loaded else []

    def list_acls(self, socket=None):
        return self.list_maps(socket)

    def replace_map(self, path, entries, socket=None):
        self.patterns[path] = dict(entries)

    def replace_acl(self, path, patterns, socket=None):
        self.patterns[path] = list(patterns)


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
            "chroot": "",
        },
        "page": {"root": str(tmp_path / "www")},
        "maintenance": {"state_file": str(tmp_path / "desired.json"), "not_up_wait": 0},
        "visitor": {
            "map_file": str(tmp_path / "visitor/maintenance.map"),
            "status_file": str(tmp_path / "visitor/status.json"),
            "status_map_file": str(tmp_path / "visitor/status.map"),
            "lua_file": str(tmp_path / "haproxy-maint.lua"),
            "paths_map_file": str(tmp_path / "visitor/paths.map"),
            "bypass_file": str(tmp_path / "visitor/bypass.acl"),
            "bypass": {"secret": SECRET},
        },
    }


@pytest.fixture(autouse=True)
def loader(monkeypatch, tmp_path, runtime, pillar):
    defaults = (REPO / "salt/haproxy_maint/defaults.yaml").read_text()
    salt = {
        "config.get": lambda key, default=None: pillar if key == "haproxy_maint" else default,
        "cp.get_file_str": lambda url: defaults if url == names.DEFAULTS_URL else None,
        "cp.is_cached": lambda url: "",
        "haproxy_runtime.server_status": runtime.server_status,
        "haproxy_runtime.set_states": runtime.set_states,
        "haproxy_runtime.shutdown_servers_sessions": runtime.shutdown_servers_sessions,
        "haproxy_runtime.save_servers_state": lambda path=None, socket=None, config_file=None: {
            "path": path
        },
        "haproxy_runtime.wait_drained": lambda *a, **k: {"drained": True, "waited": 0},
        "haproxy_runtime.show_info": runtime.show_info,
        "haproxy_runtime.list_maps": runtime.list_maps,
        "haproxy_runtime.list_acls": runtime.list_acls,
        "haproxy_runtime.replace_map": runtime.replace_map,
        "haproxy_runtime.replace_acl": runtime.replace_acl,
    }
    runtime.patterns = {
        pillar["visitor"]["map_file"]: {},
        pillar["visitor"]["paths_map_file"]: {},
        pillar["visitor"]["bypass_file"]: [],
    }
    monkeypatch.setattr(maint, "__salt__", salt, raising=False)
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
    pillar["tls"] = {"pem": "-----BEGIN PRIVATE KEY-----\nkey-material\n"}
    assert "key-material" not in json.dumps(maint.config())
    assert maint.config()["tls"]["pem"] == lbconfig.MASKED_VALUE


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
    assert page == {
        "maintenance": True,
        "active": True,
        "reason": "Upgrade <b>",
        "eta": "1h",
        "eta_at": "",
        "poll_s": 15,
    }
    assert runtime.servers["app"]["localhost"]["admin"] == "ready"


def test_repeated_start_is_a_no_op(runtime):
    maint.start()
    runtime.calls.clear()
    assert maint.start()["state"] == "already in maintenance"
    assert runtime.calls == []


def test_start_closes_the_sessions_of_the_servers_it_moved(runtime):
    runtime.servers["app"]["app1"]["sessions"] = 3
    runtime.servers["app"]["app3"]["sessions"] = 4  # an operator's MAINT: not ours to close
    result = maint.start()
    assert runtime.closed == [{"app": ["app1", "app2"]}]
    assert result["sessions_closed"] == 3
    runtime.closed.clear()
    assert maint.start()["sessions_closed"] == 0
    assert runtime.closed == [], "a repeated start moves nothing and closes nothing"


def test_drain_start_closes_what_is_left_after_the_wait(runtime):
    runtime.servers["app"]["app2"]["sessions"] = 2
    result = maint.start(mode="drain", drain_timeout=1)
    assert [change["state"] for change in runtime.calls[0]] == ["drain", "drain"]
    assert [change["state"] for change in runtime.calls[1]] == ["maint", "maint"]
    assert runtime.closed == [{"app": ["app1", "app2"]}]
    assert result["sessions_closed"] == 2 and result["drain"]["drained"] is True


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
        {"bypass": "127.0.0.2/32"},
        {"bypass": ["0.0.0.0/0"]},
        {"bypass": ["::/0"]},
        {"bypass": ["10.0.0.1/8"]},
        {"bypass": ["127.0.0.2/32; clear acl x"]},
        {"bypass": ["not a network"]},
        {"bypass": [7]},
        {"eta_at": "2026-11-26T22:00:00"},
        {"eta_at": "tomorrow"},
        {"eta_at": 1764194400},
        {"paths": "/checkout"},
        {"paths": ["checkout"]},
        {"paths": ["/a b"]},
        {"paths": ["/a;clear map x"]},
        {"paths": [f"/p{index}" for index in range(51)]},
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


# --- the visitor's side (issue 9) ------------------------------------------------------------


def test_start_sets_map_and_bypass_then_stop_clears_them(runtime, loader):
    result = maint.start(bypass=["127.0.0.2/32"], eta_at="2026-11-26T22:00:00Z")
    map_file, acl_file = loader / "visitor/maintenance.map", loader / "visitor/bypass.acl"
    epoch = "1795730400"
    assert runtime.patterns[str(map_file)] == {"api": epoch, "app": epoch}
    assert runtime.patterns[str(acl_file)] == ["127.0.0.2/32"]
    # The files say the same, so that a reload or restart loads it back.
    assert map_file.read_text() == f"api {epoch}\napp {epoch}\n"
    assert acl_file.read_text() == "127.0.0.2/32\n"
    assert result["bypass"] == ["127.0.0.2/32"] and result["visitor"] == "applied"
    assert result["eta_at"] == "2026-11-26T22:00:00Z"
    page = json.loads(Path(loader / "www/maintenance.json").read_text())
    assert page["eta_at"] == "2026-11-26T22:00:00Z" and page["maintenance"] is True

    result = maint.stop()
    assert runtime.patterns[str(map_file)] == {} and runtime.patterns[str(acl_file)] == []
    assert map_file.read_text() == "" and acl_file.read_text() == ""
    assert result["bypass"] == []


def test_partial_stop_keeps_the_rest_in_the_map(runtime, loader):
    maint.start(bypass=["127.0.0.2/32"])
    maint.stop(backends=["api"])
    assert runtime.patterns[str(loader / "visitor/maintenance.map")] == {"app": "0"}
    assert runtime.patterns[str(loader / "visitor/bypass.acl")] == ["127.0.0.2/32"]


def test_reapply_keeps_bypass_and_eta_at(runtime, loader):
    (loader / "haproxy.cfg").write_text("")
    runtime.worker_started = int(time.time()) + 1
    maint.start(bypass=["192.0.2.0/28"], eta_at="2026-11-26T22:00:00Z")
    runtime.patterns = {path: type(value)() for path, value in runtime.patterns.items()}
    result = maint.reapply()
    assert result["bypass"] == ["192.0.2.0/28"]
    assert runtime.patterns[str(loader / "visitor/bypass.acl")] == ["192.0.2.0/28"]
    assert runtime.patterns[str(loader / "visitor/maintenance.map")] == {
        "api": "1795730400",
        "app": "1795730400",
    }


def test_config_without_visitor_rules_still_goes_into_maintenance(runtime, loader):
    runtime.maps_loaded = False
    result = maint.start()
    assert result["changed"] == {"app": ["app1", "app2"]}
    assert result["visitor"] != "applied"
    assert (loader / "visitor/maintenance.map").read_text() == "api 0\napp 0\n"


def test_a_bypass_without_visitor_rules_is_refused_and_changes_nothing(runtime, loader):
    runtime.maps_loaded = False
    with pytest.raises(SaltInvocationError, match="bypass needs the visitor block") as err:
        maint.start(bypass=["127.0.0.2/32"])
    assert "acl maint_bypass src -f " + str(loader / "visitor/bypass.acl") in str(err.value)
    assert runtime.calls == [] and not (loader / "desired.json").exists()


def test_a_recorded_bypass_is_reapplied_after_the_visitor_rules_are_gone(runtime, loader):
    maint.start(bypass=["127.0.0.2/32"])
    runtime.maps_loaded = False  # another tool reloaded HAProxy with a config without them
    for server in ("app1", "app2"):
        runtime.servers["app"][server]["admin"] = "ready"
    assert maint.reapply()["changed"] == {"app": ["app1", "app2"]}


def test_secret_never_in_returns(runtime):
    results = [maint.config(), maint.start(bypass=["127.0.0.2/32"]), maint.status(), maint.stop()]
    assert SECRET not in json.dumps(results, default=str)
    assert maint.status()["bypass_secret"] is True


def test_stop_and_reapply_empty_a_map_left_over_with_maintenance_off(runtime, loader):
    map_file = loader / "visitor/maintenance.map"
    map_file.parent.mkdir(parents=True, exist_ok=True)
    map_file.write_text("app 0\n")
    runtime.patterns[str(map_file)] = {"app": "0"}
    assert maint.stop()["visitor"] == "applied"
    assert map_file.read_text() == "" and runtime.patterns[str(map_file)] == {}
    map_file.write_text("app 0\n")
    maint.reapply()
    assert map_file.read_text() == ""
    assert maint.stop()["visitor"] == "nothing to clear"


def test_stop_lists_a_restored_server_that_is_not_up(runtime, pillar):
    pillar["haproxy"]["default_server"] = {"inter": "10ms"}
    maint.start()
    runtime.servers["app"]["app2"]["status"] = "DOWN"
    result = maint.stop(not_up_wait=1)
    assert result["not_up"] == {"app": ["app2"]}


def test_a_restored_server_without_address_is_not_reported_stuck(runtime, pillar):
    pillar["haproxy"]["default_server"] = {"inter": "10ms"}
    maint.start()
    # Its host name stopped resolving during the maintenance (a restart): HAProxy's RMAINT.
    runtime.servers["app"]["app2"].update(status="MAINT (resolution)", admin_flags=["RMAINT"])
    result = maint.stop(not_up_wait=1)
    assert result["not_up"] == {}
    assert result["no_address"] == {"app": ["app2"]}


@pytest.mark.parametrize(
    ("flags", "moved"),
    [
        (["RMAINT"], False),  # no address: HAProxy's, nothing for a stop to restore
        (["CMAINT"], False),
        (["FMAINT"], False),
        (["FDRAIN"], False),  # an operator's DRAIN: left alone
        (["IDRAIN"], True),  # inherited from a tracked server: nobody's decision
    ],
)
def test_start_reads_admin_states_as_bit_flags(runtime, flags, moved):
    admin = "maint" if any(flag.endswith("MAINT") for flag in flags) else "drain"
    runtime.servers["app"]["app2"].update(admin=admin, admin_flags=flags)
    assert ("app2" in maint.start()["changed"].get("app", [])) is moved
    assert ("app2" in maint.stop()["changed"].get("app", [])) is moved, "a stop restores ours only"
    if not moved:
        assert runtime.servers["app"]["app2"]["admin"] == admin


def test_status_says_why_a_server_has_no_address(runtime):
    runtime.servers["app"]["app2"].update(
        admin="maint", admin_flags=["RMAINT"], status="MAINT (resolution)", fqdn="app2.invalid"
    )
    server = maint.status()["backends"]["app"]["app2"]
    assert server["admin_flags"] == ["RMAINT"]
    assert server["why"] == "no address: app2.invalid did not resolve"
    assert "why" not in maint.status()["backends"]["app"]["app1"]


def test_a_server_in_transition_is_not_up(runtime, pillar):
    pillar["haproxy"]["default_server"] = {"inter": "10ms"}
    maint.start()
    runtime.servers["app"]["app1"]["status"] = "UP 1/3"
    assert maint.stop(not_up_wait=0.2)["not_up"] == {"app": ["app1"]}


def test_config_reads_the_cached_defaults_and_falls_back_to_the_fileserver(loader, tmp_path):
    # A cached copy older than the modules (a key missing): the fileserver's copy decides.
    tree = yaml.safe_load((REPO / "salt/haproxy_maint/defaults.yaml").read_text())
    del tree["haproxy_maint"]["visitor"]["retry_after"]
    cached = tmp_path / "cached-defaults.yaml"
    cached.write_text(yaml.safe_dump(tree))
    fetched = []
    salt = maint.__salt__
    salt["cp.is_cached"] = lambda url: str(cached)
    real_fetch = salt["cp.get_file_str"]
    salt["cp.get_file_str"] = lambda url: fetched.append(url) or real_fetch(url)
    assert maint.config()["visitor"]["retry_after"] == 300
    assert fetched == [names.DEFAULTS_URL]
    # A current cached copy: no round trip.
    maint.__context__.clear()
    cached.write_text((REPO / "salt/haproxy_maint/defaults.yaml").read_text())
    fetched.clear()
    assert maint.config()["visitor"]["retry_after"] == 300 and fetched == []


def test_supervisorctl_exit_code_does_not_fail_the_job(monkeypatch):
    # Salt's cmd.run puts supervisorctl's code into the job's retcode; the LB judges itself.
    def start(program, conf_file=None):
        maint.__context__["retcode"] = 7

    maint.__salt__["supervisord.start"] = start
    answers = iter([False, True])
    monkeypatch.setattr(maint, "_sorry_answers", lambda cfg: next(answers))
    assert maint.start()["sorry_server"] == "started"
    assert "retcode" not in maint.__context__


# --- haproxy.cfg managed by another tool (manage_config: false) -----------------------------


@pytest.fixture
def own_config(runtime, pillar):
    """The LB's pillar names no backend; the running HAProxy has app with the sorry server as
    backup (127.0.0.1:8080, the default) and api with a backup elsewhere."""
    pillar["haproxy"] = {"manage_config": False, "config_file": pillar["haproxy"]["config_file"]}
    pillar["haproxy"]["chroot"] = ""
    for backend, servers in runtime.servers.items():
        for name, info in servers.items():
            info["address"] = "127.0.0.1:8080" if backend == "app" else f"127.0.0.1:{len(name)}"
    return runtime


def test_own_config_start_and_stop_act_on_what_haproxy_runs(own_config):
    assert maint.maintained_backends() == ["app"]
    assert maint.start()["changed"] == {"app": ["app1", "app2"]}
    assert maint.status()["backends"]["app"]["app1"]["admin"] == "maint"
    assert list(maint.status()["backends"]) == ["app"]
    assert maint.stop()["changed"] == {"app": ["app1", "app2"]}
    assert own_config.servers["app"]["app1"]["admin"] == "ready"


@pytest.mark.parametrize(
    ("backends", "why"),
    [
        (["shop"], "unknown backend 'shop': the running HAProxy has api, app (maintained: app)"),
        (["api"], "backend 'api' lacks a backup server at 127.0.0.1:8080"),
    ],
)
def test_own_config_refuses_what_haproxy_cannot_honour(own_config, loader, backends, why):
    with pytest.raises(SaltInvocationError) as err:
        maint.start(backends=backends)
    assert why in str(err.value)
    assert own_config.calls == [] and not (loader / "desired.json").exists()


def test_own_config_without_any_sorry_backup_refuses_a_start(own_config, loader):
    own_config.servers["app"]["localhost"]["address"] = "127.0.0.1:9"
    with pytest.raises(SaltInvocationError) as err:
        maint.start()
    assert "`server localhost 127.0.0.1:8080 maxconn 500 backup`" in str(err.value)
    assert own_config.calls == [] and not (loader / "desired.json").exists()


# --- path-scoped maintenance (issue 17) --------------------------------------------------------


def test_path_scoped_start_moves_no_server_and_fills_the_paths_map(runtime, loader):
    result = maint.start(backends=["app"], paths=["/checkout", "/pay/"])
    assert result["state"] == "changed" and result["changed"] == {}
    assert result["paths"] == {"app": ["/checkout", "/pay/"]} and result["backends"] == []
    assert runtime.calls == [], "no set server state"
    paths_map = loader / "visitor/paths.map"
    expected = {"app/.maintenance/": "0", "app/checkout": "0", "app/pay/": "0"}
    assert runtime.patterns[str(paths_map)] == expected
    assert paths_map.read_text() == "app/.maintenance/ 0\napp/checkout 0\napp/pay/ 0\n"
    assert runtime.patterns[str(loader / "visitor/maintenance.map")] == {}
    assert maint.start(backends=["app"], paths=["/pay/"])["state"] == "already in maintenance"
    assert maint.status()["paths_in_maintenance"] == {"app": ["/checkout", "/pay/"]}

    result = maint.stop()
    assert result["active"] is False and result["paths"] == {}
    assert runtime.patterns[str(paths_map)] == {} and paths_map.read_text() == ""


def test_a_whole_start_wins_over_paths_until_the_stop(runtime, loader):
    maint.start(backends=["app"], paths=["/checkout"])
    result = maint.start(backends=["app"])
    assert result["changed"] == {"app": ["app1", "app2"]} and result["backends"] == ["app"]
    assert maint.start(backends=["app"], paths=["/x"])["state"] == "already in maintenance"
    maint.stop(backends=["app"])
    assert maint.read_record()["active"] is False
    assert runtime.patterns[str(loader / "visitor/paths.map")] == {}


def test_paths_test_run_changes_nothing(runtime, loader):
    result = maint.start(backends=["app"], paths=["/checkout"], test=True)
    assert result["state"] == "would change" and result["test"] is True
    assert not (loader / "desired.json").exists()


def test_reapply_puts_path_scoped_maintenance_back(runtime, loader):
    (loader / "haproxy.cfg").write_text("")
    runtime.worker_started = int(time.time()) + 1
    maint.start(backends=["api"], paths=["/v1/"])
    runtime.patterns = {path: type(value)() for path, value in runtime.patterns.items()}
    result = maint.reapply()
    assert result["state"] == "applied" and result["visitor"] == "applied"
    assert runtime.patterns[str(loader / "visitor/paths.map")] == {
        "api/.maintenance/": "0",
        "api/v1/": "0",
    }


def test_a_config_without_the_paths_map_applies_the_rest_and_says_so(runtime, loader):
    del runtime.patterns[str(loader / "visitor/paths.map")]
    result = maint.start(backends=["app"], paths=["/checkout"], bypass=["127.0.0.2/32"])
    assert result["visitor"] == "applied; the running HAProxy config has no paths map (highstate)"
    assert runtime.patterns[str(loader / "visitor/bypass.acl")] == ["127.0.0.2/32"]
    # The file is written all the same: the next reload of a highstated config loads it.
    assert (loader / "visitor/paths.map").read_text() == "app/.maintenance/ 0\napp/checkout 0\n"
