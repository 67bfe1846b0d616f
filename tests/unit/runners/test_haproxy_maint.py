"""The master's side without a master: who may ask, what is checked, what is recorded, what
the operator's exit code says. The LBs are a fake that records what it was asked."""

import datetime
import os
from pathlib import Path

import pytest
import salt.cache
import salt.utils.minions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from _output import haproxy_maint as output
from _runners import haproxy_maint as runner
from saltext_haproxy_maint import desired, fanout, names, register, signing, timefmt
from saltext_haproxy_maint.desired import Request
from saltext_haproxy_maint.lb_pillar import LBPillar
from saltext_haproxy_maint.sender import NONCE_FILE

REPO = Path(__file__).resolve().parents[3]

ENVIRONMENTS = {
    "prod": {"allow": ["ops-*", "ci"]},
    "dev": {"allow": ["*"], "trust": "minion-id"},
    "empty": {"allow": ["*"], "trust": "minion-id", "target": "nothing*", "tgt_type": "glob"},
}
BACKEND = {"servers": {"a1": "127.0.0.1:9001"}, "bind": {"http": "127.0.0.1:9002", "https": ""}}
PILLAR = {
    "haproxy_maint": {
        "env": "prod",
        "haproxy": {
            "backends": {
                "app": BACKEND,
                "api": {**BACKEND, "bind": {"http": "127.0.0.1:9003", "https": ""}},
                "static": {
                    **BACKEND,
                    "sorry": False,
                    "bind": {"http": "127.0.0.1:9004", "https": ""},
                },
            }
        },
        "sorry_server": {"name": "sorry"},
    }
}


# The example master config's scheduler entry: without it, no window is accepted.
WINDOWS_JOB = {"function": "haproxy_maint.run_windows", "seconds": 10}


class FakeCache:
    def __init__(self):
        self.banks = {"pillar": {"lb1": PILLAR, "lb2": PILLAR}}
        self.reads = []

    def fetch(self, bank, key):
        self.reads.append((bank, key))
        return self.banks.get(bank, {}).get(key, {})

    def store(self, bank, key, data):
        self.banks.setdefault(bank, {})[key] = data

    def list(self, bank):
        return list(self.banks.get(bank, {}))

    def desired(self, env):
        """The newest record of ``env``, as the runner reads it."""
        records = self.banks.get(f"{register.DESIRED_BANK}/{env}", {}).values()
        return max(records, key=lambda record: record["stamp"]) if records else None


class FakeCkMinions:
    calls = 0

    def __init__(self, opts):
        pass

    def check_minions(self, target, tgt_type):
        FakeCkMinions.calls += 1
        minions = [] if target.startswith("nothing") else ["lb1", "lb2"]
        return {"minions": minions, "missing": []}


class FakeLBs:
    """What the publish would do: records the calls, answers as every LB would."""

    def __init__(self):
        self.calls = []
        self.answer = {"state": "changed", "changed": {"app": ["a1"]}}
        self.silent = set()

    def __call__(self, opts, lbs, fun, kwargs, *, timeout, gather_job_timeout):
        self.calls.append((tuple(lbs), fun, kwargs))
        return {
            lb: {"outcome": "did not answer"}
            if lb in self.silent
            else {"outcome": "ok", **self.answer}
            for lb in lbs
        }


@pytest.fixture
def cache():
    return FakeCache()


@pytest.fixture
def lbs():
    return FakeLBs()


@pytest.fixture
def fired(monkeypatch):
    events = []
    monkeypatch.setattr(fanout, "fire", lambda opts, tag, data: events.append((tag, data)))
    monkeypatch.setattr(fanout, "answer", lambda opts, *args: events.append(("answer", args)))
    return events


@pytest.fixture(autouse=True)
def master(monkeypatch, tmp_path, cache, lbs, fired):
    import yaml

    opts = {
        "haproxy_maint": {"environments": ENVIRONMENTS},
        "cachedir": str(tmp_path),
        "id": "master-a",
        "pki_dir": str(tmp_path / "pki"),
        "schedule": {"haproxy_maint_windows": WINDOWS_JOB},
    }
    defaults = yaml.safe_load((REPO / "salt/haproxy_maint/defaults.yaml").read_text())
    monkeypatch.setattr(runner, "__opts__", opts, raising=False)
    monkeypatch.setattr(runner, "__context__", {}, raising=False)
    monkeypatch.setattr(LBPillar, "defaults", lambda self: defaults["haproxy_maint"])
    monkeypatch.setattr(salt.cache, "factory", lambda opts: cache)
    monkeypatch.setattr(salt.utils.minions, "CkMinions", FakeCkMinions)
    monkeypatch.setattr(fanout, "call_lbs", lbs)
    return opts


def event(fields, sender="ops-1"):
    return {"id": sender, "data": fields, "_stamp": "2026-11-26T10:00:00.000000"}


# --- plain events (trust minion-id) ------------------------------------------------------


def test_valid_plain_start_in_a_minion_id_env(lbs, cache, fired):
    result = runner.handle_event("maint/start", event({"env": "dev", "reason": "Upgrade"}))
    assert result["state"] == "ok" and result["retcode"] == 0
    assert lbs.calls[0][1] == "haproxy_maint.start"
    assert lbs.calls[0][2]["reason"] == "Upgrade"
    assert cache.desired("dev")["active"] is True
    assert fired[-1][0] == "maint/result"


@pytest.mark.parametrize(
    ("tag", "fields", "sender", "why"),
    [
        ("maint/start", {"env": "prod"}, "intruder", "signed requests only"),
        ("maint/start", {"env": "dev"}, None, "no sender"),
        ("maint/start", {}, "ops-1", "env is missing"),
        ("maint/start", {"env": "qa"}, "ops-1", "unknown env"),
        ("maint/start", {"env": "../../etc"}, "ops-1", "invalid env"),
        ("maint/start", {"env": "dev", "backends": ["static"]}, "ops-1", "unknown backend"),
        ("maint/start", {"env": "dev", "backends": ["sorry"]}, "ops-1", "sorry server"),
        ("maint/start", {"env": "dev", "backends": ["a b"]}, "ops-1", "invalid backend"),
        ("maint/start", {"env": "dev", "backends": ["app;x"]}, "ops-1", "invalid backend"),
        ("maint/start", {"env": "dev", "backends": ["a" * 65]}, "ops-1", "invalid backend"),
        ("maint/start", {"env": "dev", "backends": ["app"] * 201}, "ops-1", "more than"),
        ("maint/start", {"env": "dev", "backends": []}, "ops-1", "empty list"),
        ("maint/start", {"env": "dev", "backends": "app"}, "ops-1", "must be a list"),
        ("maint/start", {"env": "dev", "mode": "reboot"}, "ops-1", "mode"),
        ("maint/start", {"env": "dev", "mode": "drain", "drain_timeout": True}, "ops-1", "number"),
        ("maint/start", {"env": "dev", "mode": "drain", "drain_timeout": -1}, "ops-1", "between"),
        ("maint/start", {"env": "dev", "eta": "x" * 101}, "ops-1", "longer than"),
        ("maint/start", {"env": "dev", "eta": 1320}, "ops-1", "quote it"),
        ("maint/start", {"env": "dev", "reason": True}, "ops-1", "quote it"),
        ("maint/start", {"env": "dev", "reason": "VALUE_TRIMMED"}, "ops-1", "trimmed"),
        ("maint/start", {"env": "dev", "reason": "a\x00b"}, "ops-1", "control"),
        ("maint/start", {"env": "dev", "bypass": ["0.0.0.0/0"]}, "ops-1", "every address"),
        ("maint/start", {"env": "dev", "eta_at": "22:00"}, "ops-1", "ISO 8601"),
        ("maint/start", {"env": "dev", "test": "yes"}, "ops-1", "true or false"),
        ("maint/stop", {"env": "dev", "reason": "x"}, "ops-1", "unknown fields"),
        ("maint/stop", "dev", "ops-1", "mapping"),
        ("maint/start", {"env": "empty"}, "ops-1", "no LB matches"),
    ],
)
def test_rejected_changes_nothing(tag, fields, sender, why, lbs, cache, fired):
    result = runner.handle_event(tag, event(fields, sender))
    assert result["state"] == "rejected" and result["retcode"] == names.RETCODE_REJECTED
    assert why in result["why"]
    assert lbs.calls == [] and not any(
        bank.startswith(register.DESIRED_BANK) for bank in cache.banks
    )
    assert fired[-1][0] == "maint/rejected"


STAMP = {"_stamp": "2026-11-26T10:00:00.000000"}


@pytest.mark.parametrize(
    ("tag", "data", "command"),
    [
        # salt-run event.send maint/start '{"env": "prod"}': the master's own bus.
        ("maint/start", {"env": "prod", **STAMP}, "`salt-run haproxy_maint.start prod`"),
        ("maint/stop", {"env": "dev", **STAMP}, "`salt-run haproxy_maint.stop dev`"),
        ("maint/cancel", {"env": "dev", **STAMP}, "`salt-run haproxy_maint.cancel dev`"),
        # salt-run event.send maint/start: no data at all.
        ("maint/start", dict(STAMP), "`salt-run haproxy_maint.start`"),
        # A batched minion event whose item has no "data": the item itself is the event.
        ("maint/start", {"tag": "maint/start", "env": "prod"}, "haproxy_maint.start prod`"),
        # An env that is no valid name never reaches the advice.
        ("maint/start", {"env": "prod; reboot", **STAMP}, "`salt-run haproxy_maint.start`"),
    ],
)
def test_top_level_fields_are_refused_with_what_to_run(tag, data, command, lbs, cache, fired):
    result = runner.handle_event(tag, data)
    assert result["state"] == "rejected" and result["retcode"] == names.RETCODE_REJECTED
    assert command in result["why"] and "not under 'data'" in result["why"]
    assert "NoneType" not in result["why"]
    assert lbs.calls == [] and not any(
        bank.startswith(register.DESIRED_BANK) for bank in cache.banks
    )
    assert fired[-1][0] == "maint/rejected"


def test_a_minion_event_keeps_its_shape(lbs):
    # salt-call event.send: the master fires the whole load, the fields under "data" (with
    # salt-call's own __pub_* keys, which are Salt's and not the request's).
    load = {"id": "ops-1", "cmd": "_minion_event", "tag": "maint/start", "pretag": None}
    data = {**load, "data": {"env": "dev", "__pub_fun": "event.send"}, **STAMP}
    assert runner.handle_event("maint/start", data)["state"] == "ok"
    assert lbs.calls[0][0] == ("lb1", "lb2")


@pytest.mark.parametrize("tag", ["maint/start/x", "MAINT/START", "maint/result", "maint/rejected"])
def test_other_tags_are_ignored_without_an_answer(tag, lbs, fired):
    assert runner.handle_event(tag, event({"env": "dev"}))["state"] == "ignored"
    assert lbs.calls == [] and fired == []


def test_incomplete_run_exits_1(lbs):
    lbs.silent = {"lb2"}
    result = runner.start("dev")
    assert result["state"] == "incomplete" and result["failed"] == ["lb2"]
    assert result["retcode"] == names.RETCODE_INCOMPLETE


def test_operator_unknown_env_exits_2_with_data():
    result = runner.start("prd")
    assert result["retcode"] == 2 and "unknown env 'prd'" in result["why"]


def test_operator_dry_run_records_nothing(lbs, cache):
    result = runner.start("prod", test=True)
    assert result["state"] == "planned" and result["test"] is True
    assert lbs.calls[0][2]["test"] is True
    assert not any(bank.startswith(register.DESIRED_BANK) for bank in cache.banks)


def test_desired_refuses_a_path_like_env():
    assert runner.desired("../../etc/x")["retcode"] == 2


def test_stop_reports_servers_not_up(lbs):
    lbs.answer = {"state": "changed", "changed": {"app": ["a1"]}, "not_up": {"app": ["a1"]}}
    result = runner.stop("dev")
    assert result["not_up"] == {"lb1": {"app": ["a1"]}, "lb2": {"app": ["a1"]}}


def test_catch_up_of_a_non_lb_reads_only_its_own_pillar(cache):
    FakeCkMinions.calls = 0
    result = runner.catch_up("web7")
    assert result["state"] == "not an LB"
    assert cache.reads == [("pillar", "web7"), ("minions/web7", "data")]
    assert FakeCkMinions.calls == 0


def test_catch_up_of_an_lb_applies_the_desired_state(lbs, cache):
    cache.store(
        f"{register.DESIRED_BANK}/prod",
        "master-b",
        {"active": True, "backends": None, "reason": "r", "stamp": "1"},
    )
    result = runner.catch_up("lb1")
    assert lbs.calls == [(("lb1",), "haproxy_maint.start", lbs.calls[0][2])]
    assert lbs.calls[0][2]["reason"] == "r" and result["state"] == "ok"


def test_an_older_request_does_not_overwrite_a_newer_one(lbs, cache):
    runner.handle_event("maint/start", {**event({"env": "dev"}), "_stamp": "2026-11-26T10:00:02"})
    result = runner.handle_event(
        "maint/stop", {**event({"env": "dev"}), "_stamp": "2026-11-26T10:00:01"}
    )
    assert result["state"] == "superseded"
    assert cache.desired("dev")["active"] is True


def test_next_desired_stop_of_some_backends_keeps_the_rest():
    current = {"active": True, "backends": None, "reason": "r", "eta": "e"}
    every = lambda: {"app", "api"}  # noqa: E731
    stop = Request("stop", "dev", {"backends": ["api"]}, "ops", "s")
    wanted = desired.next_desired(current, stop, all_backends=every)
    assert wanted["active"] is True and wanted["backends"] == ["app"]
    assert wanted["reason"] == "r"
    stop = Request("stop", "dev", {"backends": None}, "ops", "s")
    wanted = desired.next_desired(current, stop, all_backends=every)
    assert wanted["active"] is False


def test_stamps_order_as_strings():
    early = timefmt.stamp(datetime.datetime(2026, 1, 1, 0, 0, 0))
    late = timefmt.stamp(datetime.datetime(2026, 1, 1, 0, 0, 0, 1))
    assert early < late and len(early) == len(late)
    assert timefmt.event_stamp({"_stamp": "2026-01-01T00:00:00+00:00"}) == early


# --- scheduled windows -------------------------------------------------------------------


def test_a_window_starts_and_ends_by_itself(lbs, cache, monkeypatch):
    now = datetime.datetime(2026, 11, 28, 1, 0, tzinfo=datetime.timezone.utc)
    monkeypatch.setattr(timefmt, "now", lambda: now)
    result = runner.start("dev", at="2026-11-28T02:00:00Z", duration="2h", reason="Saturday")
    assert result["state"] == "scheduled" and lbs.calls == []
    assert result["window"] == {
        "start_at": "2026-11-28T02:00:00Z",
        "end_at": "2026-11-28T04:00:00Z",
    }
    assert runner.run_windows() == {}
    now = now.replace(hour=2)
    assert runner.run_windows()["dev"]["action"] == "start"
    assert lbs.calls[-1][2]["eta_at"] == "2026-11-28T04:00:00Z"
    assert lbs.calls[-1][2]["reason"] == "Saturday"
    now = now.replace(hour=4)
    assert runner.run_windows()["dev"]["action"] == "stop"
    assert cache.desired("dev")["active"] is False
    assert runner.run_windows() == {}


def test_a_pending_window_is_cancelled(lbs, monkeypatch):
    now = datetime.datetime(2026, 11, 28, 1, 0, tzinfo=datetime.timezone.utc)
    monkeypatch.setattr(timefmt, "now", lambda: now)
    runner.start("dev", at="2026-11-28T02:00:00Z")
    assert runner.cancel("dev")["state"] == "cancelled"
    assert runner.cancel("dev")["retcode"] == 2
    now = now.replace(hour=3)
    assert runner.run_windows() == {} and lbs.calls == []


@pytest.fixture
def clock(monkeypatch):
    """The master's clock, at 01:00 on the day of the windows; ``clock.now`` moves it."""

    class Clock:
        now = datetime.datetime(2026, 11, 28, 1, 0, tzinfo=datetime.timezone.utc)

    monkeypatch.setattr(timefmt, "now", lambda: Clock.now)
    return Clock


@pytest.mark.parametrize(
    ("env", "backends", "why"),
    [("empty", None, "no LB matches env 'empty'"), ("dev", ["nope"], "unknown backend 'nope'")],
)
@pytest.mark.parametrize("test", [False, True])
def test_a_window_that_could_not_run_is_refused_when_scheduled(
    env, backends, why, test, clock, lbs, cache, fired
):
    result = runner.start(
        env, backends=backends, at="2026-11-28T01:30:00Z", duration="10m", test=test
    )
    assert result["state"] == "rejected" and result["retcode"] == names.RETCODE_REJECTED
    assert why in result["why"]
    assert cache.desired(env) is None and lbs.calls == []
    assert [tag for tag, _ in fired] == ["maint/rejected"]


def schedule_then_break(cache, clock, lbs, fired):
    """A window for dev at 02:00, whose LBs' pillar then loses the backend it names."""
    assert runner.start("dev", backends=["api"], at="2026-11-28T02:00:00Z")["state"] == (
        "scheduled"
    )
    pillar = {**PILLAR["haproxy_maint"], "haproxy": {"backends": {"app": BACKEND}}}
    cache.banks["pillar"] = {"lb1": {"haproxy_maint": pillar}, "lb2": {"haproxy_maint": pillar}}
    clock.now = clock.now.replace(hour=2)
    fired.clear()


def test_a_window_that_cannot_run_when_due_is_rejected_once_and_dropped(cache, clock, lbs, fired):
    schedule_then_break(cache, clock, lbs, fired)
    first = runner.run_windows()
    assert first["dev"]["state"] == "rejected" and "unknown backend 'api'" in first["dev"]["why"]
    assert runner.run_windows() == {} and runner.run_windows() == {}
    assert [tag for tag, _ in fired] == ["maint/rejected"] and lbs.calls == []
    record = cache.desired("dev")
    assert "window" not in record and record["active"] is False
    assert record["window_failed"]["start_at"] == "2026-11-28T02:00:00Z"
    assert "unknown backend 'api'" in record["window_failed"]["why"]
    # Shown until the next request: here a new window.
    assert runner.start("dev", at="2026-11-28T03:00:00Z")["state"] == "scheduled"
    assert "window_failed" not in cache.desired("dev")


def test_status_shows_a_window_that_could_not_run(cache, clock, lbs, fired):
    schedule_then_break(cache, clock, lbs, fired)
    runner.run_windows()
    report = runner.status("dev")["data"]
    assert "unknown backend 'api'" in report["envs"]["dev"]["desired"]["window_failed"]["why"]
    text = output.output(report)
    assert "env dev: maintenance off; window dropped at 2026-11-28T02:00:00Z: unknown backend" in (
        text
    )


def test_the_end_of_a_window_that_cannot_run_is_rejected_once(
    cache, clock, lbs, fired, monkeypatch
):
    runner.start("dev", duration="1h")
    monkeypatch.setitem(ENVIRONMENTS["dev"], "target", "nothing*")
    clock.now = clock.now.replace(hour=2)
    fired.clear()
    assert "no LB matches" in runner.run_windows()["dev"]["why"]
    assert runner.run_windows() == {}
    assert [tag for tag, _ in fired] == ["maint/rejected"]
    record = cache.desired("dev")
    assert record["active"] is True and "window" not in record
    assert record["window_failed"]["end_at"] == "2026-11-28T02:00:00Z"


def test_an_older_window_request_is_superseded_and_records_nothing(cache, clock, lbs):
    runner.handle_event("maint/start", {**event({"env": "dev"}), "_stamp": "2026-11-26T10:00:02"})
    late = {"env": "dev", "at": "2026-11-28T02:00:00Z"}
    result = runner.handle_event("maint/start", {**event(late), "_stamp": "2026-11-26T10:00:01"})
    assert result["state"] == "superseded" and result["retcode"] == 0 and result["lbs"] == {}
    assert "window" not in cache.desired("dev")
    assert runner.run_windows() == {}


def test_an_older_cancel_is_superseded_and_keeps_the_window(cache, clock, lbs):
    window = {"env": "dev", "at": "2026-11-28T02:00:00Z"}
    runner.handle_event("maint/start", {**event(window), "_stamp": "2026-11-26T10:00:02"})
    cancel = {**event({"env": "dev"}), "_stamp": "2026-11-26T10:00:01"}
    result = runner.handle_event("maint/cancel", cancel)
    assert result["state"] == "superseded" and result["retcode"] == 0
    assert cache.desired("dev")["window"]["start_at"] == "2026-11-28T02:00:00Z"


@pytest.mark.parametrize(
    "schedule",
    [
        {},
        {"other": {"function": "jobs.list_jobs", "seconds": 10}},
        {"haproxy_maint_windows": {**WINDOWS_JOB, "enabled": False}},
        {"enabled": False, "haproxy_maint_windows": WINDOWS_JOB},
    ],
)
@pytest.mark.parametrize(
    "window", [{"duration": 8}, {"at": "2026-11-28T02:00:00Z"}, {"duration": "1h", "test": True}]
)
def test_without_the_scheduler_entry_a_window_is_refused(
    schedule, window, master, clock, lbs, cache, fired
):
    master["schedule"] = schedule
    result = runner.start("dev", **window)
    assert result["state"] == "rejected" and result["retcode"] == names.RETCODE_REJECTED
    assert "haproxy_maint.run_windows" in result["why"] and "schedule" in result["why"]
    assert lbs.calls == [] and cache.desired("dev") is None


def test_status_flags_a_window_that_nothing_will_run(master, clock, lbs):
    runner.start("dev", at="2026-11-28T02:00:00Z")
    assert "warning" not in runner.status("dev")["data"]["envs"]["dev"]
    master["schedule"] = {}
    report = runner.status("dev")["data"]
    assert "haproxy_maint.run_windows" in report["envs"]["dev"]["warning"]
    assert "  warning: its window will not run" in output.output(report)
    # A start now and a cancel need no scheduler.
    assert runner.start("dev")["state"] == "ok"
    assert runner.cancel("dev")["state"] == "cancelled"


# --- signed requests ---------------------------------------------------------------------


def make_key(directory, name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    directory.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (directory / f"{name}.pem").write_bytes(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return directory / f"{name}.pem", public


@pytest.fixture
def ops_key(master, tmp_path):
    private, public = make_key(tmp_path / "ops-1", "minion")
    accepted = tmp_path / "pki" / "minions"
    accepted.mkdir(parents=True)
    (accepted / "ops-1").write_bytes(public)
    return private


def signed(fields, key, sender="ops-1", tag="maint/start", now=None):
    envelope = signing.sign(tag, sender, fields, str(key), now=now)
    return {**fields, "signature": envelope}


def test_a_signed_request_is_accepted_and_answered(ops_key, lbs, fired):
    result = runner.handle_event("maint/start", event(signed({"env": "prod"}, ops_key)))
    assert result["state"] == "ok" and result["sender"] == "ops-1"
    assert any(tag == "answer" and args[0] == "ops-1" for tag, args in fired)


def test_a_replayed_signed_request_is_refused(ops_key, lbs):
    fields = signed({"env": "prod"}, ops_key)
    runner.handle_event("maint/start", event(fields))
    result = runner.handle_event("maint/start", event(fields))
    assert result["state"] == "rejected" and "replay" in result["why"]
    assert len(lbs.calls) == 1


def test_the_nonce_store_survives_a_restart(ops_key, lbs, master):
    fields = signed({"env": "prod"}, ops_key)
    runner.handle_event("maint/start", event(fields))
    assert os.path.exists(os.path.join(master["cachedir"], "haproxy_maint", NONCE_FILE))
    runner.__context__.clear()  # a new master process knows only what is on disk
    assert "replay" in runner.handle_event("maint/start", event(fields))["why"]


def test_a_stale_signed_request_is_refused(ops_key, lbs):
    fields = signed({"env": "prod"}, ops_key, now=1_000_000_000)
    result = runner.handle_event("maint/start", event(fields))
    assert "stale" in result["why"] and lbs.calls == []


def test_a_changed_field_breaks_the_signature(ops_key, lbs):
    fields = {**signed({"env": "prod", "reason": "a"}, ops_key), "reason": "b"}
    assert "does not verify" in runner.handle_event("maint/start", event(fields))["why"]


def test_a_signature_by_another_minions_key_is_refused(master, tmp_path, ops_key, lbs):
    other, _ = make_key(tmp_path / "lb1", "minion")
    fields = signed({"env": "prod"}, other, sender="ops-1")
    assert "does not verify" in runner.handle_event("maint/start", event(fields))["why"]


def test_a_pending_key_does_not_count(master, tmp_path, lbs):
    private, public = make_key(tmp_path / "ops-2", "minion")
    pending = tmp_path / "pki" / "minions_pre"
    pending.mkdir(parents=True)
    (pending / "ops-2").write_bytes(public)
    fields = signed({"env": "prod"}, private, sender="ops-2")
    result = runner.handle_event("maint/start", event(fields, "ops-2"))
    assert "no accepted key" in result["why"] and lbs.calls == []


def test_a_forged_id_with_a_real_signature_is_refused(ops_key, lbs):
    # A batched event can carry any id: the signature names ops-1, the event says lb1.
    fields = signed({"env": "prod"}, ops_key)
    result = runner.handle_event("maint/start", event(fields, sender="lb1"))
    assert result["state"] == "rejected" and lbs.calls == []


def test_a_signed_sender_outside_the_allow_list_is_refused(master, tmp_path, lbs):
    private, public = make_key(tmp_path / "web1", "minion")
    accepted = tmp_path / "pki" / "minions"
    accepted.mkdir(parents=True, exist_ok=True)
    (accepted / "web1").write_bytes(public)
    fields = signed({"env": "prod"}, private, sender="web1")
    result = runner.handle_event("maint/start", event(fields, "web1"))
    assert "may not trigger" in result["why"] and lbs.calls == []


def test_a_pending_window_outlives_a_start_and_a_stop_now(lbs, cache, monkeypatch):
    now = datetime.datetime(2026, 11, 28, 1, 0, tzinfo=datetime.timezone.utc)
    monkeypatch.setattr(timefmt, "now", lambda: now)
    runner.start("dev", at="2026-11-28T02:00:00Z", duration="1h")
    runner.start("dev", reason="now")
    runner.stop("dev")
    window = cache.desired("dev")["window"]
    assert window["start_at"] == "2026-11-28T02:00:00Z"


def test_a_bad_signature_gets_no_answer_to_the_claimed_sender(ops_key, lbs, fired):
    fields = {**signed({"env": "prod", "reason": "a"}, ops_key), "reason": "b"}
    runner.handle_event("maint/start", event(fields))
    assert [tag for tag, _ in fired] == ["maint/rejected"]


def test_a_proven_sender_is_answered_when_refused(master, tmp_path, lbs, fired):
    private, public = make_key(tmp_path / "web2", "minion")
    accepted = tmp_path / "pki" / "minions"
    accepted.mkdir(parents=True, exist_ok=True)
    (accepted / "web2").write_bytes(public)
    runner.handle_event("maint/start", event(signed({"env": "prod"}, private, "web2"), "web2"))
    assert [tag for tag, _ in fired] == ["maint/rejected", "answer"]


def test_the_newest_record_of_any_master_wins_and_none_is_overwritten(lbs, cache):
    bank = f"{register.DESIRED_BANK}/dev"
    cache.store(
        bank, "master-b", {"active": True, "backends": None, "stamp": "2026-11-26T10:00:05"}
    )
    assert runner.desired("dev")["active"] is True
    # An older request at this master: recorded nowhere, and master-b's record stands.
    result = runner.handle_event(
        "maint/stop", {**event({"env": "dev"}), "_stamp": "2026-11-26T10:00:01"}
    )
    assert result["state"] == "superseded" and "master-a" not in cache.banks[bank]
    result = runner.handle_event(
        "maint/stop", {**event({"env": "dev"}), "_stamp": "2026-11-26T10:00:09"}
    )
    assert result["state"] == "ok" and runner.desired("dev")["active"] is False
    assert cache.banks[bank]["master-b"]["active"] is True, "the other master's record is kept"


def test_a_catch_up_without_record_sends_no_stamp(lbs):
    # Stamped "now", it would make the LB refuse a request received before it.
    runner.catch_up("lb1")
    assert lbs.calls[0][1] == "haproxy_maint.stop" and "stamp" not in lbs.calls[0][2]


@pytest.fixture
def own_config_lbs(cache):
    """Both LBs' pillars: haproxy.cfg managed by another tool, no backends named."""
    pillar = {"haproxy_maint": {"env": "prod", "haproxy": {"manage_config": False}}}
    cache.banks["pillar"] = {"lb1": pillar, "lb2": pillar}
    return pillar


def test_backends_of_lbs_that_read_them_from_haproxy_are_checked_there(own_config_lbs, lbs):
    # What every LB's haproxy_maint.status says (and, here, its start too).
    lbs.answer = {"haproxy": "up", "backends": {"https-in": {}}, "changed": {}}
    result = runner.handle_event("maint/start", event({"env": "dev", "backends": ["https-in"]}))
    assert result["state"] == "ok"
    assert [call[1] for call in lbs.calls] == ["haproxy_maint.status", "haproxy_maint.start"]
    assert lbs.calls[1][2]["backends"] == ["https-in"]


def test_a_backend_no_running_haproxy_has_is_refused_before_recording(own_config_lbs, lbs, cache):
    lbs.answer = {"haproxy": "up", "backends": {"https-in": {}}}
    result = runner.handle_event("maint/start", event({"env": "dev", "backends": ["shop"]}))
    assert result["state"] == "rejected"
    assert "unknown backend 'shop' (maintained: https-in)" in result["why"]
    assert [call[1] for call in lbs.calls] == ["haproxy_maint.status"]
    assert not any(bank.startswith(register.DESIRED_BANK) for bank in cache.banks)


def test_an_lb_that_cannot_say_checks_the_backend_itself(own_config_lbs, lbs):
    lbs.answer = {"haproxy": "unreachable: no socket", "backends": {}}
    result = runner.handle_event("maint/start", event({"env": "dev", "backends": ["shop"]}))
    assert [call[1] for call in lbs.calls] == ["haproxy_maint.status", "haproxy_maint.start"]
    assert result["lbs"]["lb1"]["outcome"] == "ok"


def test_a_partial_stop_asks_the_running_haproxy_what_remains(own_config_lbs, lbs, cache):
    lbs.answer = {"haproxy": "up", "backends": {"https-in": {}, "api": {}}, "changed": {}}
    runner.handle_event("maint/start", event({"env": "dev"}))
    result = runner.handle_event("maint/stop", event({"env": "dev", "backends": ["https-in"]}))
    assert result["state"] == "ok"
    assert cache.desired("dev")["active"] is True and cache.desired("dev")["backends"] == ["api"]


def test_a_partial_stop_is_refused_when_an_lb_cannot_say(own_config_lbs, lbs, cache):
    runner.handle_event("maint/start", event({"env": "dev"}))
    lbs.answer = {"haproxy": "unreachable: no socket", "backends": {}}
    result = runner.handle_event("maint/stop", event({"env": "dev", "backends": ["https-in"]}))
    assert result["state"] == "rejected" and "haproxy:maintain" in result["why"]
    assert cache.desired("dev")["active"] is True and cache.desired("dev")["backends"] is None
    assert "haproxy_maint.stop" not in [call[1] for call in lbs.calls]


# --- path-scoped maintenance in the desired state (issue 17) -----------------------------


def start_req(**params):
    return Request("start", "dev", {"backends": None, **params}, "ops", "s")


def test_next_desired_keeps_path_scope_per_backend():
    every = lambda: {"app", "api"}  # noqa: E731
    wanted = desired.next_desired({}, start_req(backends=["app"], paths=["/pay"]), every)
    assert wanted["active"] is True and wanted["backends"] == []
    assert wanted["paths"] == {"app": ["/pay"]}
    # A whole start of api keeps app's path scope; a path start of every backend names both.
    wanted = desired.next_desired(wanted, start_req(backends=["api"]), every)
    assert wanted["backends"] == ["api"] and wanted["paths"] == {"app": ["/pay"]}
    wanted = desired.next_desired(wanted, start_req(paths=["/x"]), every)
    assert wanted["backends"] == ["api"]
    assert wanted["paths"] == {"api": ["/x"], "app": ["/pay", "/x"]}
    # A stop of app ends its scope; api stays, as a whole (and its paths, which it outranks).
    stop = Request("stop", "dev", {"backends": ["app"]}, "ops", "s")
    wanted = desired.next_desired(wanted, stop, every)
    assert wanted["active"] is True and wanted["backends"] == ["api"]
    assert wanted["paths"] == {"api": ["/x"]}
    stop = Request("stop", "dev", {"backends": None}, "ops", "s")
    wanted = desired.next_desired(wanted, stop, every)
    assert wanted["active"] is False and wanted["paths"] == {}


def test_a_stop_of_the_whole_backends_keeps_path_scoped_ones_active():
    every = lambda: {"app", "api"}  # noqa: E731
    current = desired.next_desired({}, start_req(backends=["api"]), every)
    current = desired.next_desired(current, start_req(backends=["app"], paths=["/pay"]), every)
    stop = Request("stop", "dev", {"backends": ["api"]}, "ops", "s")
    wanted = desired.next_desired(current, stop, every)
    assert wanted["active"] is True and wanted["backends"] == []
    assert wanted["paths"] == {"app": ["/pay"]}


def test_catch_up_sends_one_start_per_scope():
    wanted = {
        "active": True,
        "backends": ["api"],
        "paths": {"app": ["/pay"], "shop": ["/pay"], "web": ["/a"]},
        "reason": "r",
    }
    starts = desired.catch_up_starts(wanted)
    assert [(start["backends"], start.get("paths")) for start in starts] == [
        (["api"], None),
        (["app", "shop"], ["/pay"]),
        (["web"], ["/a"]),
    ]
    assert all(start["mode"] == "maint" and start["reason"] == "r" for start in starts)
    only_paths = desired.catch_up_starts({"active": True, "backends": [], "paths": {"app": ["/a"]}})
    assert [start["backends"] for start in only_paths] == [["app"]]
    assert desired.catch_up_starts({"active": True, "backends": None})[0]["backends"] is None


def test_catch_up_of_whole_and_path_scoped_backends_calls_the_lb_twice(lbs, cache):
    cache.store(
        f"{register.DESIRED_BANK}/prod",
        "master-b",
        {"active": True, "backends": ["app"], "paths": {"api": ["/v1/"]}, "stamp": "1"},
    )
    result = runner.catch_up("lb1")
    assert [call[2]["backends"] for call in lbs.calls] == [["app"], ["api"]]
    assert "paths" not in lbs.calls[0][2] and lbs.calls[1][2]["paths"] == ["/v1/"]
    assert result["state"] == "ok"
