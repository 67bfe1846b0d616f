"""Maintenance sticks through reloads, restarts, highstates and LBs that were down; the
switch is clean under load; concurrent start and stop end in the state of the last."""

import json
import subprocess
import threading
import time

from harness.haproxy import runtime_command, wait_for
from harness.sandbox import http_get, is_page, serves_app, serves_page
from tests.integration.test_maintenance import ANSWER, admin_states, send

LOAD_INTERVAL = 0.02
SWITCH_TIMEOUT = 15


def in_maintenance(sandbox):
    return serves_page(sandbox, "app") and serves_page(sandbox, "api")


def worker_pid(sandbox):
    try:
        info = runtime_command(sandbox.socket, "show info", timeout=2)
    except OSError:
        return None
    for line in info.splitlines():
        if line.startswith("Pid:"):
            return int(line.split()[1])
    return None


def test_reload_keeps_maintenance(clean_cluster, ops_minion, event_listener, master):
    lb = clean_cluster["lb1"]
    send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
    old = worker_pid(lb)
    assert lb.supervisorctl("signal", "USR2", "haproxy").returncode == 0
    wait_for(lambda: worker_pid(lb) not in (None, old), 15, "the reloaded haproxy worker")
    assert in_maintenance(lb)
    assert admin_states(clean_cluster)["lb1"]["app/app1"] & 1


def test_restart_keeps_maintenance(clean_cluster, ops_minion, event_listener, master):
    lb = clean_cluster["lb2"]
    send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
    assert lb.supervisorctl("restart", "haproxy").returncode == 0
    wait_for(lambda: worker_pid(lb) is not None, 15, "the restarted haproxy")
    assert in_maintenance(lb)
    assert admin_states(clean_cluster)["lb2"]["api/api1"] & 1


def test_highstate_keeps_maintenance_on_and_off(
    clean_cluster, ops_minion, event_listener, master, salt_cli
):
    lb = clean_cluster["lb1"]
    ret = salt_cli.run("state.apply", minion_tgt="lb1", _timeout=600)
    assert ret.returncode == 0
    assert serves_app(lb, "app"), "a highstate without maintenance leaves it off"

    send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
    ret = salt_cli.run("state.apply", minion_tgt="lb1", _timeout=600)
    assert ret.returncode == 0
    assert in_maintenance(lb), "a highstate during maintenance leaves it on"
    converged = [state for key, state in ret.data.items() if key.startswith("haproxy_maint_|-")]
    assert converged and converged[0]["result"] is True


def test_lb_down_during_start_catches_up(
    clean_cluster, ops_minion, event_listener, master, lb_minions
):
    lb2 = lb_minions["lb2"]
    lb2.terminate()
    try:
        _tag, result = send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
        assert result["lbs"]["lb1"]["outcome"] == "ok"
        assert result["lbs"]["lb2"]["outcome"] == "did not answer"
        assert result["failed"] == ["lb2"] and result["result"] is False
        assert in_maintenance(clean_cluster["lb1"])
        assert serves_app(clean_cluster["lb2"], "app"), "its minion was down: unchanged"
    finally:
        after = time.time()
        lb2.start(start_timeout=120)
    matched = event_listener.wait_for_events(
        [(master.id, "maint/result")], timeout=60, after_time=after
    )
    catch_up = [e for e in matched.matches if e.data["sender"] == "catch-up:lb2"]
    assert catch_up and catch_up[0].data["lbs"]["lb2"]["outcome"] == "ok"
    wait_for(lambda: in_maintenance(clean_cluster["lb2"]), SWITCH_TIMEOUT, "lb2 catching up")


def test_lb_down_during_a_path_scoped_start_catches_up_both_scopes(
    clean_cluster, ops_minion, event_listener, master, lb_minions
):
    send(ops_minion, "maint/start", {"env": "test", "backends": ["api"]}, event_listener, master)
    lb2, sandbox = lb_minions["lb2"], clean_cluster["lb2"]
    checkout = sandbox.url("app", "/checkout/cart")
    lb2.terminate()
    try:
        start = {"env": "test", "backends": ["app"], "paths": ["/checkout"]}
        _tag, result = send(ops_minion, "maint/start", start, event_listener, master)
        assert result["lbs"]["lb1"]["paths"] == {"app": ["/checkout"]}
        assert result["lbs"]["lb2"]["outcome"] == "did not answer"
        assert not is_page(*http_get(checkout)), "its minion was down: unchanged"
    finally:
        lb2.start(start_timeout=120)

    def caught_up():
        return is_page(*http_get(checkout)) and serves_page(sandbox, "api")

    # The catch-up: api as a whole (as before), app for its paths only.
    wait_for(caught_up, SWITCH_TIMEOUT + 60, "lb2 catching up with both scopes")
    assert serves_app(sandbox, "app")


def test_lb_down_during_stop_catches_up(
    clean_cluster, ops_minion, event_listener, master, lb_minions
):
    send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
    lb2 = lb_minions["lb2"]
    lb2.terminate()
    try:
        _tag, result = send(ops_minion, "maint/stop", {"env": "test"}, event_listener, master)
        assert result["lbs"]["lb2"]["outcome"] == "did not answer"
        assert serves_app(clean_cluster["lb1"], "app")
        assert in_maintenance(clean_cluster["lb2"])
    finally:
        lb2.start(start_timeout=120)
    wait_for(lambda: serves_app(clean_cluster["lb2"], "app"), 60, "lb2 leaving maintenance")


class Load:
    """Requests to every LB every LOAD_INTERVAL s; each answer is app, page or failed."""

    def __init__(self, cluster):
        self.urls = [sandbox.url("app") for sandbox in cluster.values()]
        self.counts = {"app": 0, "page": 0, "failed": 0}
        self.failures = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while not self.stopping.is_set():
            for url in self.urls:
                status, body = http_get(url, timeout=5)
                if status == 200 and body.startswith("APP "):
                    self.counts["app"] += 1
                elif is_page(status, body):
                    self.counts["page"] += 1
                else:
                    self.counts["failed"] += 1
                    self.failures.append((url, status, body[:100]))
            self.stopping.wait(LOAD_INTERVAL)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)


def test_no_failed_request_under_load(clean_cluster, ops_minion, event_listener, master):
    with Load(clean_cluster) as load:
        wait_for(lambda: load.counts["app"] >= 10, 10, "load on the app")
        send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
        pages = load.counts["page"]
        wait_for(lambda: load.counts["page"] >= pages + 10, 10, "load on the page")
        send(ops_minion, "maint/stop", {"env": "test"}, event_listener, master)
        apps = load.counts["app"]
        wait_for(lambda: load.counts["app"] >= apps + 10, 10, "load on the app again")
    assert load.counts["failed"] == 0, load.failures[:5]
    assert load.counts["page"] >= 10 and load.counts["app"] >= 20


def test_concurrent_start_and_stop_end_in_the_last(
    clean_cluster, ops_minion, event_listener, master
):
    after = time.time()
    commands = [
        ops_minion.salt_call_cli().cmdline("event.send", tag, json.dumps({"env": "test"}))
        for tag in ("maint/start", "maint/stop", "maint/start")
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL) for cmd in commands]
    for proc in procs:
        assert proc.wait(120) == 0

    def three_answers():
        found = event_listener.get_events([(master.id, ANSWER)], after_time=after)
        return found if len(found) >= 3 else None

    answers = wait_for(three_answers, 60, "three answers")
    ordered = sorted((event.data for event in answers), key=lambda data: data["stamp"])
    applied = [data for data in ordered if data["state"] != "superseded"]
    last = applied[-1]["action"]
    for sandbox in clean_cluster.values():
        if last == "start":
            assert in_maintenance(sandbox)
        else:
            assert serves_app(sandbox, "app") and serves_app(sandbox, "api")


def test_server_renamed_in_pillar_gets_maintenance_back(
    clean_cluster, ops_minion, event_listener, master, salt_cli, pillar_root
):
    lb = clean_cluster["lb1"]
    original = (pillar_root / "lb1.sls").read_text()
    pillar = json.loads(original)
    servers = pillar["haproxy_maint"]["haproxy"]["backends"]["app"]["servers"]
    servers["app2-renamed"] = servers.pop("app2")
    send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
    try:
        (pillar_root / "lb1.sls").write_text(json.dumps(pillar))
        assert (
            salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt="lb1").returncode == 0
        )
        ret = salt_cli.run("state.apply", minion_tgt="lb1", _timeout=600)
        assert ret.returncode == 0, ret.stdout
        states = admin_states(clean_cluster)["lb1"]
        assert "app/app2" not in states
        assert states["app/app2-renamed"] & 1, "the renamed server is in maintenance too"
        assert in_maintenance(lb)
    finally:
        (pillar_root / "lb1.sls").write_text(original)
        salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt="lb1")
        ret = salt_cli.run("state.apply", minion_tgt="lb1", _timeout=600)
    assert ret.returncode == 0, ret.stdout
    assert admin_states(clean_cluster)["lb1"]["app/app2"] & 1
    send(ops_minion, "maint/stop", {"env": "test"}, event_listener, master)
    wait_for(lambda: serves_app(lb, "app"), SWITCH_TIMEOUT, "the app back")
    assert admin_states(clean_cluster)["lb1"]["app/app2"] == 0
