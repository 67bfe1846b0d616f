"""maint/start and maint/stop through a real master, reactor and LB minions."""

import json
import threading
import time

import pytest

from harness.haproxy import runtime_command, wait_for
from harness.sandbox import http_get, is_page, serves_app, serves_page
from harness.tunnel import Tunnel

ANSWER_TIMEOUT = 60
ANSWER = "maint/re*"  # maint/result or maint/rejected


def admin_states(cluster):
    """Every LB's `show servers state`, as an operator with socat sees it."""
    states = {}
    for lb_id, sandbox in cluster.items():
        lines = runtime_command(sandbox.socket, "show servers state").splitlines()[2:]
        states[lb_id] = {
            f"{fields[1]}/{fields[3]}": int(fields[6])
            for fields in (line.split() for line in lines)
            if fields
        }
    return states


def send(minion, tag, payload, event_listener, master, timeout=ANSWER_TIMEOUT, caller=None):
    """Fire an event from a minion with salt-call (or, given ``caller``, the same event.send
    in-process, without a CLI start-up); return the master's answer event data."""
    after = time.time()
    if caller is not None and not isinstance(payload, str):
        assert caller.cmd("event.send", tag, payload) is True
    else:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        ret = minion.salt_call_cli(timeout=60).run("event.send", tag, data)
        assert ret.returncode == 0, ret
    matched = event_listener.wait_for_events(
        [(master.id, ANSWER)], timeout=timeout, after_time=after
    )
    assert matched.found_all_events, f"no answer to {tag} {payload!r}"
    (event,) = sorted(matched.matches, key=lambda e: e.stamp)[:1]
    return event.tag, event.data


def test_start_and_stop_switch_every_lb(clean_cluster, ops_minion, event_listener, master):
    tag, result = send(
        ops_minion, "maint/start", {"env": "test", "reason": "Upgrade"}, event_listener, master
    )
    assert tag == "maint/result", result
    assert result["result"] is True and result["action"] == "start"
    assert set(result["lbs"]) == set(clean_cluster)
    assert all(out["outcome"] == "ok" for out in result["lbs"].values())
    assert result["sender"] == "ops"
    for sandbox in clean_cluster.values():
        for backend in ("app", "api"):
            assert serves_page(sandbox, backend)
        status, body = http_get(sandbox.url("app", "/.maintenance/maintenance.json"))
        assert status == 200 and json.loads(body)["reason"] == "Upgrade"
    for states in admin_states(clean_cluster).values():
        assert states["app/app1"] & 1 and states["app/app2"] & 1 and states["api/api1"] & 1
        assert states["app/localhost"] == 0

    tag, result = send(ops_minion, "maint/stop", {"env": "test"}, event_listener, master)
    assert tag == "maint/result" and result["result"] is True and result["action"] == "stop"
    for sandbox in clean_cluster.values():
        for backend in ("app", "api"):
            wait_for(lambda s=sandbox, b=backend: serves_app(s, b), 10, "the app back")
    for states in admin_states(clean_cluster).values():
        assert states["app/app1"] == 0 and states["api/api1"] == 0


def test_path_scoped_start_on_every_lb_from_one_event(
    clean_cluster, ops_minion, event_listener, master
):
    before = admin_states(clean_cluster)
    start = {"env": "test", "backends": ["app"], "paths": ["/checkout"]}
    tag, result = send(ops_minion, "maint/start", start, event_listener, master)
    assert tag == "maint/result" and result["result"] is True, result
    assert set(result["lbs"]) == set(clean_cluster)
    for lb_id, sandbox in clean_cluster.items():
        outcome = result["lbs"][lb_id]
        assert outcome["paths"] == {"app": ["/checkout"]} and outcome["changed"] == {}
        assert serves_page_at(sandbox, "app", "/checkout/cart?id=1")
        assert serves_app(sandbox, "app") and serves_app(sandbox, "api")
    # No server moved: the servers serve the other paths.
    assert admin_states(clean_cluster) == before

    tag, result = send(ops_minion, "maint/stop", {"env": "test"}, event_listener, master)
    assert tag == "maint/result" and result["result"] is True
    for lb_id, sandbox in clean_cluster.items():
        assert result["lbs"][lb_id]["paths"] == {}
        status, body = http_get(sandbox.url("app", "/checkout/cart?id=1"))
        assert status == 200 and body.startswith("APP "), (lb_id, status, body)


def serves_page_at(sandbox, backend, path):
    status, body = http_get(sandbox.url(backend, path))
    return is_page(status, body)


def test_replayed_start_is_a_no_op(clean_cluster, ops_minion, event_listener, master):
    send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
    before = admin_states(clean_cluster)
    _tag, result = send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
    assert result["result"] is True
    assert {out["state"] for out in result["lbs"].values()} == {"already in maintenance"}
    assert admin_states(clean_cluster) == before


def test_stop_restores_only_what_start_changed(
    clean_cluster, ops_minion, event_listener, master, salt_cli
):
    ret = salt_cli.run("haproxy_runtime.set_server_state", "api", "api1", "maint", minion_tgt="lb1")
    assert ret.returncode == 0, ret
    ret = salt_cli.run("haproxy_runtime.set_server_state", "app", "app2", "drain", minion_tgt="lb1")
    assert ret.returncode == 0, ret
    try:
        _tag, result = send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
        assert result["lbs"]["lb1"]["left_alone"] == {"app": ["app2"]}
        send(ops_minion, "maint/stop", {"env": "test"}, event_listener, master)
        lb1 = admin_states(clean_cluster)["lb1"]
        assert lb1["api/api1"] & 1, "an operator's MAINT must survive maint/stop"
        assert lb1["app/app2"] & 8, "an operator's DRAIN must survive maint/stop"
        assert lb1["app/app1"] == 0
    finally:
        salt_cli.run("haproxy_runtime.set_servers_state", "api", "ready", minion_tgt="lb1")
        salt_cli.run("haproxy_runtime.set_servers_state", "app", "ready", minion_tgt="lb1")


def test_named_backends_only(clean_cluster, ops_minion, event_listener, master):
    _tag, result = send(
        ops_minion, "maint/start", {"env": "test", "backends": ["api"]}, event_listener, master
    )
    assert result["result"] is True, result
    for sandbox in clean_cluster.values():
        assert serves_page(sandbox, "api")
        assert serves_app(sandbox, "app")


def test_unauthorised_sender_is_rejected(clean_cluster, intruder_minion, event_listener, master):
    before = admin_states(clean_cluster)
    tag, data = send(intruder_minion, "maint/start", {"env": "test"}, event_listener, master)
    assert tag == "maint/rejected"
    assert data["sender"] == "intruder" and "may not trigger" in data["why"]
    assert admin_states(clean_cluster) == before


@pytest.mark.parametrize("raw", ["not json at all", "[1, 2, 3]"])
def test_raw_non_mapping_event_rejected(clean_cluster, ops_minion, event_listener, master, raw):
    before = admin_states(clean_cluster)
    after = time.time()
    # fire_master sends the data as it is, so the master sees a non-mapping.
    ret = ops_minion.salt_call_cli().run("event.fire_master", raw, "maint/start")
    assert ret.returncode == 0, ret
    matched = event_listener.wait_for_events([(master.id, ANSWER)], timeout=60, after_time=after)
    (event,) = matched.matches
    assert event.tag == "maint/rejected" and "mapping" in event.data["why"]
    assert admin_states(clean_cluster) == before


def test_sender_id_in_data_is_not_trusted(clean_cluster, intruder_minion, event_listener, master):
    before = admin_states(clean_cluster)
    tag, data = send(
        intruder_minion, "maint/start", {"env": "test", "id": "ops"}, event_listener, master
    )
    assert tag == "maint/rejected" and data["sender"] == "intruder"
    assert admin_states(clean_cluster) == before


HOSTILE = [
    ({"env": "test", "backends": ["app; set server app/app1 state ready"]}, "invalid backend"),
    ({"env": "test", "backends": ["app\nshutdown sessions server app/app1"]}, "invalid backend"),
    ({"env": "test", "backends": ["app;"]}, "invalid backend"),
    ({"env": "test", "backends": "app"}, "must be a list"),
    ({"env": "test", "backends": []}, "empty list"),
    ({"env": "test", "backends": ["localhost"]}, "sorry server"),
    ({"env": "test", "backends": ["nope"]}, "unknown backend"),
    ({"env": "test", "backends": [1, 2]}, "invalid backend"),
    ({"env": "test", "backends": ["x" * 5000]}, "invalid backend"),
    ({"env": "nope"}, "unknown env"),
    ({"env": "test; rm"}, "invalid env"),
    ({"env": ["test"]}, "invalid env"),
    ({"env": "test", "mode": "restart"}, "mode"),
    ({"env": "test", "drain_timeout": 5}, "only for mode"),
    ({"env": "test", "mode": "drain", "drain_timeout": "5"}, "number"),
    ({"env": "test", "mode": "drain", "drain_timeout": 10**9}, "between"),
    ({"env": "test", "reason": "x" * 100000}, "longer than"),
    ({"env": "test", "reason": ["a"]}, "text"),
    ({"env": "test", "eta": "soon\nset server app/app1 state ready"}, "control characters"),
    ({"env": "test", "socket": "/tmp/evil.sock"}, "unknown fields"),
    ({"env": "test", "command": "disable server app/app1"}, "unknown fields"),
    # Separators and look-alikes: nothing but the plain name rule passes.
    ({"env": "test", "backends": ["app\\ set server app/app1 state ready"]}, "invalid backend"),
    ({"env": "test", "backends": ["\u0430pp"]}, "invalid backend"),  # Cyrillic a
    ({"env": "test", "backends": ["app\u200b"]}, "invalid backend"),  # zero-width space
    ({"env": "test", "backends": ["app\uff1bx"]}, "invalid backend"),  # fullwidth ;
    ({"env": "test", "backends": ["app\r"]}, "invalid backend"),
    ({"env": "test", "backends": [None]}, "invalid backend"),
    ({"env": "test", "backends": ["a" * 65]}, "invalid backend"),
    ({"env": "test", "backends": ["app"] * 201}, "more than"),
    ({"env": "t\u0435st"}, "invalid env"),  # Cyrillic e
    ({"env": ""}, "invalid env"),
    ({"env": "test\u0000"}, "invalid env"),
    ({"env": "../test"}, "invalid env"),
    # Text: control characters, and values a YAML command line typed.
    ({"env": "test", "reason": "a\x7fb"}, "control characters"),
    ({"env": "test", "reason": "a\rb"}, "control characters"),
    ({"env": "test", "eta": 1320}, "quote it"),
    ({"env": "test", "reason": True}, "quote it"),
    ({"env": "test", "mode": "MAINT"}, "mode"),
    # The newer fields.
    ({"env": "test", "bypass": "10.0.0.0/8"}, "must be a list"),
    ({"env": "test", "bypass": ["::/0"]}, "every address"),
    ({"env": "test", "bypass": ["0.0.0.0/0"]}, "every address"),
    ({"env": "test", "bypass": ["10.0.0.0/8; clear acl #0"]}, "invalid bypass"),
    ({"env": "test", "eta_at": "tomorrow"}, "ISO 8601"),
    ({"env": "test", "eta_at": "2026-11-28T02:00:00"}, "zone"),
    ({"env": "test", "at": "2099-01-01T00:00:00Z"}, "year ahead"),
    ({"env": "test", "duration": "0"}, "between"),
    ({"env": "test", "duration": "10y"}, "duration must be"),
    ({"env": "test", "test": "yes"}, "true or false"),
    ({"env": "test", "signature": "x"}, "signature must be a mapping"),
    # event.send drops data that is not a mapping: it arrives empty, with no env.
    ("not json at all", "env is missing"),
    ("[1, 2, 3]", "env is missing"),
    ({}, "env is missing"),
]


@pytest.mark.parametrize(("payload", "why"), HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_payload_rejected(
    calm_cluster, ops_minion, ops_caller, event_listener, master, payload, why
):
    before = admin_states(calm_cluster)
    tag, data = send(ops_minion, "maint/start", payload, event_listener, master, caller=ops_caller)
    assert tag == "maint/rejected", data
    assert why in data["why"]
    assert data["sender"] == "ops"
    assert admin_states(calm_cluster) == before
    for sandbox in calm_cluster.values():
        assert serves_app(sandbox, "app")


@pytest.mark.parametrize("tag", ["maint/start/x", "MAINT/START", "maint/startx", "maint"])
def test_only_exact_tags_act(clean_cluster, ops_minion, event_listener, master, tag):
    before = admin_states(clean_cluster)
    after = time.time()
    ret = ops_minion.salt_call_cli().run("event.send", tag, json.dumps({"env": "test"}))
    assert ret.returncode == 0
    # A control event sent after it: its answer proves the master has handled ours by then.
    send(ops_minion, "maint/stop", {"env": "test"}, event_listener, master)
    answers = event_listener.get_events([(master.id, ANSWER)], after_time=after)
    assert {event.data.get("action") for event in answers} == {"stop"}
    assert admin_states(clean_cluster) == before


def test_drain_waits_for_in_flight_request(clean_cluster, ops_minion, event_listener, master):
    lb = clean_cluster["lb1"]
    outcome = {}

    def slow_request():
        outcome["response"] = http_get(lb.url("app", "/slow?s=8"), timeout=20)

    thread = threading.Thread(target=slow_request)
    thread.start()
    wait_for(lambda: sessions(lb, "app") > 0, 10, "the slow request to reach an app server")
    _tag, result = send(
        ops_minion,
        "maint/start",
        {"env": "test", "mode": "drain", "drain_timeout": 15},
        event_listener,
        master,
    )
    thread.join(20)
    status, body = outcome["response"]
    assert status == 200 and body.startswith("APP "), "the in-flight request must finish"
    drain = result["lbs"]["lb1"]["drain"]
    assert drain["drained"] is True and drain["waited"] >= 1
    assert serves_page(lb, "app")


def test_maint_result_counts_the_sessions_each_lb_closed(
    clean_cluster, ops_minion, event_listener, master
):
    lb = clean_cluster["lb1"]
    tunnel = Tunnel("127.0.0.1", lb.ports["app_http"])
    assert tunnel.echo("hello").endswith(" hello")
    _tag, result = send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
    assert result["lbs"]["lb1"]["sessions_closed"] == 1
    assert all(
        out["sessions_closed"] == 0 for lb_id, out in result["lbs"].items() if lb_id != "lb1"
    )
    assert tunnel.closed_by_peer(), "the tunnel to the app is cut"
    tunnel.close()


def sessions(lb, backend):
    rows = [line.split(",") for line in runtime_command(lb.socket, "show stat").splitlines()[1:]]
    return sum(int(row[4] or 0) for row in rows if row[0] == backend and row[1].startswith("app"))


def test_status_runner_table(clean_cluster, ops_minion, event_listener, master, salt_run_cli):
    send(ops_minion, "maint/start", {"env": "test", "reason": "Disk swap"}, event_listener, master)
    ret = salt_run_cli.run("haproxy_maint.status", "test", "--out=haproxy_maint")
    assert ret.returncode == 0
    text = ret.stdout
    assert "maintenance ON (Disk swap)" in text
    for lb_id in clean_cluster:
        assert f"{lb_id}" in text
    assert "maint" in text and "localhost (backup)" in text
    data = salt_run_cli.run("haproxy_maint.status", "test", "--out=json").data
    assert data["envs"]["test"]["lbs"]["lb1"]["maintenance"] is True
    assert data["envs"]["test"]["lbs"]["lb1"]["backends"]["app"]["app1"]["admin"] == "maint"


def test_sorry_server_down_is_started_first(clean_cluster, ops_minion, event_listener, master):
    lb = clean_cluster["lb1"]
    assert lb.supervisorctl("stop", "http-server").returncode == 0
    try:
        _tag, result = send(ops_minion, "maint/start", {"env": "test"}, event_listener, master)
        assert result["lbs"]["lb1"]["sorry_server"] == "started"
        assert result["lbs"]["lb2"]["sorry_server"] == "ok"
        assert serves_page(lb, "app")
    finally:
        lb.supervisorctl("start", "http-server")


def test_one_lb_by_hand(clean_cluster, salt_cli):
    ret = salt_cli.run("haproxy_maint.start", "reason=by hand", minion_tgt="lb1")
    assert ret.returncode == 0, ret
    assert ret.data["state"] == "changed"
    assert serves_page(clean_cluster["lb1"], "app")
    assert serves_app(clean_cluster["lb2"], "app"), "only the LB named"
    status = salt_cli.run("haproxy_maint.status", minion_tgt="lb1").data
    assert status["maintenance"] is True and status["reason"] == "by hand"
    assert status["backends"]["app"]["app1"]["admin"] == "maint"
    ret = salt_cli.run("haproxy_maint.stop", minion_tgt="lb1")
    assert ret.returncode == 0 and ret.data["state"] == "changed"
    assert serves_app(clean_cluster["lb1"], "app")
    ret = salt_cli.run("haproxy_maint.start", "backends=[]", minion_tgt="lb1")
    assert ret.returncode != 0 and "empty list" in ret.stdout
    assert serves_app(clean_cluster["lb1"], "app")
