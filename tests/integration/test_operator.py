"""What an operator at the master meets: exit codes, data, the status table, a dry run,
scheduled windows and a stop that says whether the app came back."""

import datetime
import time

import pytest

from harness.haproxy import wait_for
from harness.sandbox import serves_app, serves_page
from tests.integration.test_maintenance import admin_states

WINDOW_TIMEOUT = 60


def utc_in(seconds):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("nope",), "unknown env 'nope'"),
        (("test", 'backends=["nope"]'), "unknown backend"),
        (("test", "backends=app"), "must be a list"),
        (("test", "eta=22:00"), "quote it"),
        (("test", "reason=yes"), "quote it"),
        (("test", "bypass=[0.0.0.0/0]"), "every address"),
        (("test", "duration=forever"), "duration"),
        (("test", "at=tomorrow"), "ISO 8601"),
    ],
)
def test_rejected_start_exits_2_with_the_reason_as_data(clean_cluster, salt_run_cli, args, why):
    before = admin_states(clean_cluster)
    ret = salt_run_cli.run("haproxy_maint.start", *args)
    assert ret.returncode == 2, ret
    assert why in ret.data["why"] and ret.data["state"] == "rejected"
    assert "Passed invalid arguments" not in ret.stdout
    assert admin_states(clean_cluster) == before


def test_successful_start_and_stop_exit_0(clean_cluster, salt_run_cli):
    ret = salt_run_cli.run("haproxy_maint.start", "test", 'eta="22:00 UTC"')
    assert ret.returncode == 0 and ret.data["state"] == "ok", ret
    assert ret.data["lbs"]["lb1"]["changed"] == {"app": ["app1", "app2"], "api": ["api1"]}
    ret = salt_run_cli.run("haproxy_maint.stop", "test")
    assert ret.returncode == 0 and ret.data["not_up"] == {}, ret


def test_incomplete_run_exits_1(clean_cluster, salt_run_cli, lb_minions):
    lb_minions["lb2"].terminate()
    try:
        ret = salt_run_cli.run("haproxy_maint.start", "test")
        assert ret.returncode == 1, ret
        assert ret.data["state"] == "incomplete" and ret.data["failed"] == ["lb2"]
        assert serves_page(clean_cluster["lb1"], "app")
    finally:
        lb_minions["lb2"].start(start_timeout=120)
    # The returning LB catches up with the recorded maintenance by itself.
    wait_for(lambda: serves_page(clean_cluster["lb2"], "app"), 60, "lb2 catches up")


def test_dry_run_names_what_would_change_and_changes_nothing(clean_cluster, salt_run_cli):
    before = admin_states(clean_cluster)
    desired = salt_run_cli.run("haproxy_maint.desired", "test").data
    ret = salt_run_cli.run("haproxy_maint.start", "test", "test=True")
    assert ret.returncode == 0 and ret.data["state"] == "planned", ret
    for lb in clean_cluster:
        outcome = ret.data["lbs"][lb]
        assert outcome["test"] is True and outcome["state"] == "would change"
        assert outcome["changed"] == {"app": ["app1", "app2"], "api": ["api1"]}
    assert admin_states(clean_cluster) == before
    assert salt_run_cli.run("haproxy_maint.desired", "test").data == desired
    for sandbox in clean_cluster.values():
        assert serves_app(sandbox, "app")


def test_dry_run_of_stop_names_what_would_be_restored(clean_cluster, salt_run_cli, salt_cli):
    # An operator's own MAINT on app2 before: left alone by start, not restored by stop.
    ret = salt_cli.run("haproxy_runtime.set_server_state", "app", "app2", "maint", minion_tgt="lb1")
    assert ret.returncode == 0, ret
    try:
        assert salt_run_cli.run("haproxy_maint.start", "test").returncode == 0
        before = admin_states(clean_cluster)
        ret = salt_run_cli.run("haproxy_maint.stop", "test", "test=True")
        assert ret.returncode == 0, ret
        assert ret.data["lbs"]["lb1"]["changed"] == {"app": ["app1"], "api": ["api1"]}
        assert ret.data["lbs"]["lb2"]["changed"] == {"app": ["app1", "app2"], "api": ["api1"]}
        assert admin_states(clean_cluster) == before
    finally:
        salt_run_cli.run("haproxy_maint.stop", "test")
        salt_cli.run("haproxy_runtime.set_server_state", "app", "app2", "ready", minion_tgt="lb1")


def test_stop_lists_the_servers_that_did_not_come_back(clean_cluster, salt_run_cli, app_servers):
    assert salt_run_cli.run("haproxy_maint.start", "test").returncode == 0
    app_servers["app2"].stop()
    try:
        ret = salt_run_cli.run("haproxy_maint.stop", "test")
        assert ret.returncode == 0, ret
        assert ret.data["not_up"] == {"lb1": {"app": ["app2"]}, "lb2": {"app": ["app2"]}}
    finally:
        app_servers["app2"].start()


def test_status_is_data_and_a_table(clean_cluster, salt_run_cli):
    assert salt_run_cli.run("haproxy_maint.start", "test", "reason=Disk swap").returncode == 0
    ret = salt_run_cli.run("haproxy_maint.status", "test")
    assert ret.returncode == 0, ret
    report = ret.data["data"] if "outputter" in ret.data else ret.data
    lb1 = report["envs"]["test"]["lbs"]["lb1"]
    assert lb1["maintenance"] is True and lb1["backends"]["app"]["app1"]["admin"] == "maint"
    assert report["envs"]["test"]["desired"]["reason"] == "Disk swap"
    ret = salt_run_cli.run("haproxy_maint.status", "test", "--out=haproxy_maint")
    assert "env test: maintenance ON (Disk swap)" in ret.stdout
    assert "localhost (backup)" in ret.stdout
    assert salt_run_cli.run("haproxy_maint.status", "nope").returncode == 2


def test_a_window_with_duration_ends_by_itself(clean_cluster, salt_run_cli, event_listener, master):
    after = time.time()
    ret = salt_run_cli.run("haproxy_maint.start", "test", "duration=3", "reason=Short")
    assert ret.returncode == 0 and ret.data["window"]["end_at"], ret
    for sandbox in clean_cluster.values():
        assert serves_page(sandbox, "app")

    def window_stops():
        results = event_listener.get_events([(master.id, "maint/result")], after_time=after)
        return [event.data for event in results if event.data.get("action") == "stop"]

    wait_for(window_stops, WINDOW_TIMEOUT, "the window's end")
    assert window_stops()[0]["sender"] == "window"
    for sandbox in clean_cluster.values():
        assert serves_app(sandbox, "app")


def test_a_window_with_at_starts_by_itself(clean_cluster, salt_run_cli):
    # Far enough ahead that a slow salt-run start-up does not make it "now".
    ret = salt_run_cli.run("haproxy_maint.start", "test", f"at={utc_in(20)}", "duration=1h")
    assert ret.returncode == 0 and ret.data["state"] == "scheduled", ret
    assert serves_app(clean_cluster["lb1"], "app"), "not before its time"
    wait_for(lambda: serves_page(clean_cluster["lb1"], "app"), WINDOW_TIMEOUT, "window start")
    desired = salt_run_cli.run("haproxy_maint.desired", "test").data
    assert desired["active"] is True and desired["eta_at"] == desired["window"]["end_at"]
    # A stop ends the window too: nothing starts or stops by itself afterwards.
    assert salt_run_cli.run("haproxy_maint.stop", "test").returncode == 0
    assert "window" not in salt_run_cli.run("haproxy_maint.desired", "test").data


def test_a_pending_window_survives_a_master_restart_and_is_cancelled(
    clean_cluster, salt_run_cli, salt_cli, master
):
    ret = salt_run_cli.run("haproxy_maint.start", "test", f"at={utc_in(3600)}")
    assert ret.returncode == 0 and ret.data["state"] == "scheduled", ret
    master.terminate()
    master.start(start_timeout=120)
    desired = salt_run_cli.run("haproxy_maint.desired", "test").data
    assert desired["window"]["start_at"] == ret.data["window"]["start_at"]
    ret = salt_run_cli.run("haproxy_maint.cancel", "test")
    assert ret.returncode == 0 and ret.data["state"] == "cancelled", ret
    assert "window" not in salt_run_cli.run("haproxy_maint.desired", "test").data
    assert salt_run_cli.run("haproxy_maint.cancel", "test").returncode == 2
    # The LB minions reconnect by themselves; the next tests need them.
    wait_for(
        lambda: salt_cli.run("test.ping", minion_tgt="lb*").data == {"lb1": True, "lb2": True},
        120,
        "the LB minions to reconnect",
    )
    for sandbox in clean_cluster.values():
        assert serves_app(sandbox, "app")
