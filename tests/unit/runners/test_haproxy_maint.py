"""Validation of maintenance requests on the master, without a master."""

import pytest

from tests.support.load import load_module

runner = load_module("_runners/haproxy_maint.py", "haproxy_maint_runner")

ENVIRONMENTS = {"prod": {"allow": ["ops-*", "ci"]}, "dev": {"allow": ["*"]}}
PILLAR = {
    "haproxy_maint": {
        "haproxy": {"backends": {"app": {}, "api": {}, "static": {"sorry": False}}},
        "sorry_server": {"name": "sorry"},
    }
}


class FakeCache:
    def fetch(self, bank, key):
        return PILLAR if bank == "pillar" else {}


class FakeCkMinions:
    def __init__(self, opts):
        pass

    def check_minions(self, target, tgt_type):
        assert target == "I@haproxy_maint:env:prod" or target.startswith("I@")
        return {"minions": ["lb1", "lb2"], "missing": []}


@pytest.fixture(autouse=True)
def master(monkeypatch, tmp_path):
    opts = {"haproxy_maint": {"environments": ENVIRONMENTS}, "cachedir": str(tmp_path)}
    monkeypatch.setattr(runner, "__opts__", opts, raising=False)
    monkeypatch.setattr(runner.salt.cache, "factory", lambda opts: FakeCache())
    monkeypatch.setattr(runner.salt.utils.minions, "CkMinions", FakeCkMinions)
    return opts


def test_valid_start_with_defaults():
    action, env, params = runner.validate("maint/start", {"env": "prod"}, "ops-1")
    assert (action, env) == ("start", "prod")
    assert params == {"backends": None, "mode": "maint", "reason": "", "eta": ""}


def test_valid_drain_with_backends():
    _action, _env, params = runner.validate(
        "maint/start",
        {"env": "prod", "backends": ["app", "api", "app"], "mode": "drain", "drain_timeout": 30},
        "ci",
    )
    assert params["backends"] == ["api", "app"] and params["drain_timeout"] == 30


@pytest.mark.parametrize(
    ("tag", "fields", "sender", "why"),
    [
        ("maint/start", {"env": "prod"}, "intruder", "may not trigger"),
        ("maint/start", {"env": "prod"}, None, "no authenticated sender"),
        ("maint/start", {"env": "prod"}, "", "no authenticated sender"),
        ("maint/start", {}, "ops-1", "env is missing"),
        ("maint/start", {"env": "qa"}, "ops-1", "unknown env"),
        ("maint/start", {"env": "prod", "backends": ["static"]}, "ops-1", "unknown backend"),
        ("maint/start", {"env": "prod", "backends": ["sorry"]}, "ops-1", "sorry server"),
        ("maint/start", {"env": "prod", "backends": ["localhost"]}, "ops-1", "sorry server"),
        ("maint/start", {"env": "prod", "backends": ["a b"]}, "ops-1", "invalid backend"),
        ("maint/start", {"env": "prod", "backends": ["a" * 101]}, "ops-1", "invalid backend"),
        ("maint/start", {"env": "prod", "backends": ["app"] * 201}, "ops-1", "more than"),
        ("maint/start", {"env": "prod", "backends": {"app": 1}}, "ops-1", "must be a list"),
        ("maint/start", {"env": "prod", "mode": None}, "ops-1", "mode"),
        ("maint/start", {"env": "prod", "mode": "drain", "drain_timeout": True}, "ops-1", "number"),
        ("maint/start", {"env": "prod", "mode": "drain", "drain_timeout": -1}, "ops-1", "between"),
        ("maint/start", {"env": "prod", "eta": "x" * 101}, "ops-1", "longer than"),
        ("maint/start", {"env": "prod", "reason": "a\x00b"}, "ops-1", "control"),
        ("maint/stop", {"env": "prod", "reason": "x"}, "ops-1", "unknown fields"),
        ("maint/stop", "prod", "ops-1", "mapping"),
        ("maint/restart", {"env": "prod"}, "ops-1", "unknown tag"),
    ],
)
def test_rejected(tag, fields, sender, why):
    with pytest.raises(runner.Rejected) as err:
        runner.validate(tag, fields, sender)
    assert why in str(err.value)


def test_operator_path_skips_only_the_allow_list():
    assert runner.validate("maint/stop", {"env": "prod"}, "master:root", check_sender=False)[0]
    with pytest.raises(runner.Rejected):
        runner.validate("maint/stop", {"env": "qa"}, "master:root", check_sender=False)


def test_default_env(master):
    master["haproxy_maint"]["default_env"] = "dev"
    assert runner.validate("maint/start", {}, "anyone")[1] == "dev"


def test_next_desired_stop_of_some_backends_keeps_the_rest():
    current = {"active": True, "backends": None, "reason": "r", "eta": "e"}
    wanted = runner._next_desired(current, "stop", {"backends": ["api"]}, "ops", "s", ["lb1"])
    assert wanted["active"] is True and wanted["backends"] == ["app"]
    assert wanted["reason"] == "r"
    wanted = runner._next_desired(current, "stop", {"backends": None}, "ops", "s", ["lb1"])
    assert wanted["active"] is False


def test_next_desired_start_merges_backends():
    current = {"active": True, "backends": ["api"]}
    wanted = runner._next_desired(current, "start", {"backends": ["app"]}, "ops", "s", [])
    assert wanted["backends"] == ["api", "app"]


def test_stamps_order_as_strings():
    import datetime

    early = runner._stamp(datetime.datetime(2026, 1, 1, 0, 0, 0))
    late = runner._stamp(datetime.datetime(2026, 1, 1, 0, 0, 0, 1))
    assert early < late and len(early) == len(late)
    assert runner._event_stamp({"_stamp": "2026-01-01T00:00:00+00:00"}) == early
