"""Two masters share the desired state through Salt's ``redis`` cache: a request at one master
is known to the other, requests are ordered by the masters' receive stamps, and every master
and every LB ends in the state of the last request (issue 13)."""

import datetime
import json
import threading

import pytest
import salt.cache

from harness.haproxy import wait_for
from harness.sandbox import serves_app
from tests.integration.multimaster.conftest import (
    CATCH_UP_TIMEOUT,
    ENV,
    LB_GLOB,
    RECONNECT_TIMEOUT,
    START_TIMEOUT,
    start_on_both,
)
from tests.integration.test_maintenance import admin_states
from tests.integration.test_stickiness import in_maintenance

RUN_TIMEOUT = 120
SWITCH_TIMEOUT = 15
EVENT_POLL_INTERVAL = 0.2
DESIRED_BANK = f"haproxy_maint/desired/{ENV}"
MAINTAINED = ("app/app1", "app/app2", "api/api1")


def salt_run(master, *args):
    ret = master.salt_run_cli(timeout=RUN_TIMEOUT).run(*args)
    assert isinstance(ret.data, dict), ret
    return ret


def desired(master):
    return salt_run(master, "haproxy_maint.desired", ENV).data


def assert_maintenance(cluster, on):
    """Every LB, as its runtime socket and its visitors see it: in maintenance or not."""
    for lb_id, states in admin_states(cluster).items():
        flags = {server: bool(states[server] & 1) for server in MAINTAINED}
        assert flags == dict.fromkeys(MAINTAINED, on), (lb_id, states)
    for sandbox in cluster.values():
        if on:
            assert in_maintenance(sandbox), sandbox.minion_id
        else:
            for backend in ("app", "api"):
                wait_for(
                    lambda s=sandbox, b=backend: serves_app(s, b),
                    SWITCH_TIMEOUT,
                    f"{backend} served by {sandbox.minion_id}",
                )


def reaches_every_lb(master, lb_ids):
    ret = master.salt_cli(timeout=10).run("test.ping", minion_tgt=LB_GLOB)
    return ret.returncode == 0 and ret.data == dict.fromkeys(lb_ids, True)


@pytest.mark.parametrize(("start_at", "stop_at"), [(0, 1), (1, 0)], ids=["a-then-b", "b-then-a"])
def test_start_at_one_master_and_stop_at_the_other(clean_cluster, masters, start_at, stop_at):
    started = salt_run(masters[start_at], "haproxy_maint.start", ENV)
    assert started.returncode == 0 and started.data["state"] == "ok", started
    assert_maintenance(clean_cluster, on=True)
    for master in masters:
        assert desired(master)["active"] is True, master.id

    stopped = salt_run(masters[stop_at], "haproxy_maint.stop", ENV)
    assert stopped.returncode == 0 and stopped.data["state"] == "ok", stopped
    assert stopped.data["stamp"] > started.data["stamp"]
    assert_maintenance(clean_cluster, on=False)
    for master in masters:
        wanted = desired(master)
        assert wanted["active"] is False and wanted["stamp"] == stopped.data["stamp"], master.id
    # One record per master in the shared Redis, not one overwriting the other.
    shared = salt.cache.factory(masters[0].config)
    assert sorted(shared.list(DESIRED_BANK)) == sorted(master.id for master in masters)


def test_start_and_stop_at_two_masters_at_once_end_in_the_last(clean_cluster, masters):
    answers = {}

    def run(master, action):
        answers[action] = salt_run(master, f"haproxy_maint.{action}", ENV)

    threads = [
        threading.Thread(target=run, args=(masters[0], "start")),
        threading.Thread(target=run, args=(masters[1], "stop")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RUN_TIMEOUT)
    assert set(answers) == {"start", "stop"}
    for ret in answers.values():
        assert ret.returncode == 0 and ret.data["result"] is True, ret
    last = max(answers, key=lambda action: answers[action].data["stamp"])
    assert_maintenance(clean_cluster, on=last == "start")
    for master in masters:
        wanted = desired(master)
        assert wanted["stamp"] == answers[last].data["stamp"], master.id
        assert wanted["active"] is (last == "start"), master.id


def catch_up_results(event_listener, masters, minion_id, after):
    """The catch-up answers for ``minion_id`` from each master, once both have answered."""
    found = {}
    for master in masters:
        events = event_listener.get_events([(master.id, "maint/result")], after_time=after)
        for event in events:
            if event.data.get("sender") == f"catch-up:{minion_id}":
                found.setdefault(master.id, event.data)
    return found if len(found) == len(masters) else None


def test_a_start_while_b_was_down_sticks_when_an_lb_restarts(
    clean_cluster, masters, lb_minions, event_listener
):
    master_a, master_b = masters
    master_b.terminate()
    try:
        started = salt_run(master_a, "haproxy_maint.start", ENV)
        assert started.returncode == 0 and started.data["state"] == "ok", started
    finally:
        master_b.start(start_timeout=START_TIMEOUT)
    # B never saw the request, but reads it from the shared cache.
    wanted = desired(master_b)
    assert wanted["active"] is True and wanted["stamp"] == started.data["stamp"], wanted
    wait_for(
        lambda: reaches_every_lb(master_b, lb_minions), RECONNECT_TIMEOUT, "B reaching the LBs"
    )
    assert_maintenance(clean_cluster, on=True)

    lb = lb_minions["mm-lb1"]
    lb.terminate()
    after = start_on_both(lb, masters, event_listener)
    # Both masters catch the LB up; B must not take "nothing recorded here" for "stop".
    results = wait_for(
        lambda: catch_up_results(event_listener, masters, lb.id, after),
        CATCH_UP_TIMEOUT,
        "the catch-up of both masters",
        interval=EVENT_POLL_INTERVAL,
    )
    for master_id, result in results.items():
        assert result["action"] == "start", (master_id, result)
        assert result["lbs"][lb.id]["outcome"] == "ok", (master_id, result)
    assert_maintenance(clean_cluster, on=True)
    assert desired(master_a)["stamp"] == desired(master_b)["stamp"] == started.data["stamp"]


def test_a_catch_up_without_record_does_not_outrank_an_earlier_request(clean_cluster, masters):
    """Master B received a start (its receive stamp) before master A caught an LB up, but
    handles it after (a busy reactor, or just another master): the start is still the last
    request, so every LB must end in maintenance. The environment has no record yet."""
    master_a, master_b = masters
    salt.cache.factory(master_a.config).flush(DESIRED_BANK)
    received = datetime.datetime.now(datetime.timezone.utc).isoformat()
    caught_up = salt_run(master_a, "haproxy_maint.catch_up", "mm-lb1")
    assert caught_up.data["action"] == "stop" and caught_up.data["result"] is True, caught_up
    event = {"id": "ops", "data": {"env": ENV}, "_stamp": received}
    started = salt_run(master_b, "haproxy_maint.handle_event", "maint/start", json.dumps(event))
    assert started.data["state"] == "ok", started
    assert desired(master_a)["active"] is True
    assert_maintenance(clean_cluster, on=True)
