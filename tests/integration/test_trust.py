"""Who may start and stop maintenance, tried the way an attacker with one ordinary minion would.

Environment ``secure`` (the same two LBs) accepts signed requests only; environment ``test``
trusts the event's id (``minion-id``). The forged events here are batched events
(``_minion_event`` with ``events``), in which Salt passes on whatever ``id`` the minion wrote.
"""

import json
import time
from pathlib import Path

import pytest

from harness.haproxy import wait_for
from harness.sandbox import serves_app, serves_page
from saltext_haproxy_maint import signing
from tests.integration.test_maintenance import ANSWER, admin_states, send

SECURE = "secure"


@pytest.fixture
def clean_secure(clean_cluster, salt_run_cli):
    salt_run_cli.run("haproxy_maint.stop", SECURE)
    yield clean_cluster
    salt_run_cli.run("haproxy_maint.stop", SECURE)


def forge(minion, tag, claimed_id, fields, event_listener, master):
    """A batched event from ``minion`` that claims to come from ``claimed_id``."""
    preload = {"events": [{"tag": tag, "data": {"id": claimed_id, "data": fields}}]}
    after = time.time()
    ret = minion.salt_call_cli(timeout=60).run(
        "event.fire_master", "{}", "anything", f"preload={json.dumps(preload)}"
    )
    assert ret.returncode == 0, ret
    matched = event_listener.wait_for_events([(master.id, ANSWER)], timeout=60, after_time=after)
    assert matched.found_all_events, "the master did not answer the forged event"
    (event,) = sorted(matched.matches, key=lambda e: e.stamp)[:1]
    return event.tag, event.data


def request(minion, *args, timeout=90):
    """The operator's command on ``minion``, as the runbook says to run it:
    salt-call --retcode-passthrough haproxy_maint.request ... (else any failure exits 1)."""
    cli = minion.salt_call_cli(timeout=timeout)
    return cli.run("--retcode-passthrough", "haproxy_maint.request", *args)


def sign_as(sender, key_path, fields, tag="maint/start", now=None):
    envelope = signing.sign(tag, sender, fields, str(key_path), now=now)
    return {**fields, "signature": envelope}


def minion_key(factory):
    return Path(factory.config["pki_dir"]) / "minion.pem"


@pytest.mark.parametrize("tag", ["maint/start", "maint/stop"])
def test_forged_batched_event_is_refused_in_a_signed_env(
    clean_secure, intruder_minion, event_listener, master, salt_run_cli, tag
):
    if tag == "maint/stop":
        assert salt_run_cli.run("haproxy_maint.start", SECURE).returncode == 0
    before = admin_states(clean_secure)
    answer_tag, data = forge(intruder_minion, tag, "ops", {"env": SECURE}, event_listener, master)
    assert answer_tag == "maint/rejected", data
    assert "signed requests only" in data["why"]
    assert admin_states(clean_secure) == before


def test_forged_batched_event_passes_under_minion_id_as_documented(
    clean_cluster, intruder_minion, event_listener, master
):
    # The weaker level trusts the id, and a batched event can carry any id: this is the
    # reason 'signed' is the default and docs/security.md says so.
    answer_tag, data = forge(
        intruder_minion, "maint/start", "ops", {"env": "test"}, event_listener, master
    )
    assert answer_tag == "maint/result" and data["sender"] == "ops"
    for sandbox in clean_cluster.values():
        assert serves_page(sandbox, "app")


def test_signed_request_works_end_to_end_and_says_how_it_went(clean_secure, ops_minion):
    ret = request(ops_minion, "start", f"env={SECURE}", "reason=Signed upgrade")
    assert ret.returncode == 0, ret
    assert ret.data["state"] == "ok" and ret.data["sender"] == "ops"
    assert set(ret.data["lbs"]) == set(clean_secure)
    for sandbox in clean_secure.values():
        assert serves_page(sandbox, "app")
    ret = request(ops_minion, "stop", f"env={SECURE}")
    assert ret.returncode == 0, ret
    assert ret.data["action"] == "stop" and ret.data["not_up"] == {}
    for sandbox in clean_secure.values():
        assert serves_app(sandbox, "app")


def test_request_by_a_minion_outside_the_allow_list_exits_2(clean_secure, intruder_minion):
    before = admin_states(clean_secure)
    ret = request(intruder_minion, "start", f"env={SECURE}")
    assert ret.returncode == 2, ret
    assert "may not trigger" in ret.data["why"]
    assert admin_states(clean_secure) == before


def test_plain_event_to_a_signed_env_says_how_to_sign(
    clean_secure, ops_minion, event_listener, master
):
    tag, data = send(ops_minion, "maint/start", {"env": SECURE}, event_listener, master)
    assert tag == "maint/rejected"
    assert "salt-call haproxy_maint.request start env=secure" in data["why"]


def test_replayed_signed_request_is_refused(clean_secure, ops_minion, event_listener, master):
    after = time.time()
    assert request(ops_minion, "start", f"env={SECURE}").returncode == 0

    def signed_events():
        sent = event_listener.get_events([(master.id, "maint/start")], after_time=after)
        return [event.data["data"] for event in sent if "signature" in event.data.get("data", {})]

    # The listener may file the event a moment after the command has printed its answer.
    wait_for(signed_events, 30, "the signed maint/start on the master's bus")
    signed = signed_events()[0]
    signed = {key: value for key, value in signed.items() if not key.startswith("__pub")}
    assert request(ops_minion, "stop", f"env={SECURE}").returncode == 0
    before = admin_states(clean_secure)
    tag, data = send(ops_minion, "maint/start", signed, event_listener, master)
    assert tag == "maint/rejected" and "replay" in data["why"]
    assert admin_states(clean_secure) == before


def test_stale_signed_request_is_refused(clean_secure, ops_minion, event_listener, master):
    fields = sign_as("ops", minion_key(ops_minion), {"env": SECURE}, now=time.time() - 3600)
    before = admin_states(clean_secure)
    tag, data = send(ops_minion, "maint/start", fields, event_listener, master)
    assert tag == "maint/rejected" and "stale" in data["why"]
    assert admin_states(clean_secure) == before


def test_request_signed_with_another_minions_key_is_refused(
    clean_secure, ops_minion, intruder_minion, event_listener, master
):
    fields = sign_as("ops", minion_key(intruder_minion), {"env": SECURE})
    before = admin_states(clean_secure)
    tag, data = forge(intruder_minion, "maint/start", "ops", fields, event_listener, master)
    assert tag == "maint/rejected" and "does not verify" in data["why"]
    tag, data = send(ops_minion, "maint/start", fields, event_listener, master)
    assert tag == "maint/rejected" and "does not verify" in data["why"]
    assert admin_states(clean_secure) == before


def test_request_of_a_minion_without_accepted_key_is_refused(
    clean_secure, intruder_minion, event_listener, master, tmp_path
):
    # A key the master never accepted (or one that was deleted): only accepted keys count.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "ghost.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    fields = sign_as("ghost", path, {"env": SECURE})
    before = admin_states(clean_secure)
    tag, data = forge(intruder_minion, "maint/start", "ghost", fields, event_listener, master)
    assert tag == "maint/rejected" and "no accepted key" in data["why"]
    assert admin_states(clean_secure) == before


def test_trimmed_reason_is_refused(clean_cluster, ops_caller, event_listener, master):
    # 2 MiB is over Salt's max_event_size: Salt replaces the value with VALUE_TRIMMED.
    before = admin_states(clean_cluster)
    after = time.time()
    # Too long for a command line: fired in-process, through the same event.send.
    ops_caller.cmd("event.send", "maint/start", {"env": "test", "reason": "x" * (2 * 1024 * 1024)})
    matched = event_listener.wait_for_events([(master.id, ANSWER)], timeout=60, after_time=after)
    assert matched.found_all_events
    (event,) = sorted(matched.matches, key=lambda e: e.stamp)[:1]
    tag, data = event.tag, event.data
    assert tag == "maint/rejected", data
    assert "trimmed" in data["why"]
    assert admin_states(clean_cluster) == before


@pytest.mark.parametrize(
    ("how", "events"),
    [
        # An operator on the master: the fields land at the top level of the event.
        ("master", None),
        # A batched minion event whose item has no "data": the item itself is the event.
        ("batched", [{"tag": "maint/start", "env": "test"}]),
    ],
)
def test_fields_at_the_top_level_are_refused_with_what_to_run_instead(
    clean_cluster, salt_run_cli, intruder_minion, event_listener, master, how, events
):
    before = admin_states(clean_cluster)
    after = time.time()
    if how == "master":
        ret = salt_run_cli.run("event.send", "maint/start", '{"env": "test"}')
    else:
        ret = intruder_minion.salt_call_cli(timeout=60).run(
            "event.fire_master", "{}", "anything", f"preload={json.dumps({'events': events})}"
        )
    assert ret.returncode == 0, ret
    matched = event_listener.wait_for_events([(master.id, ANSWER)], timeout=60, after_time=after)
    assert matched.found_all_events
    (event,) = sorted(matched.matches, key=lambda e: e.stamp)[:1]
    assert event.tag == "maint/rejected", event.data
    assert "`salt-run haproxy_maint.start test`" in event.data["why"]
    assert admin_states(clean_cluster) == before
