"""A highstate (masterless salt-call) of an LB whose haproxy.cfg another tool renders
(haproxy:manage_config false), on the reference setup's own config run by a harness haproxy:
it leaves that file byte-identical, runs the sorry server, and brings a maintenance back that
a reload dropped."""

from pathlib import Path

import pytest
import yaml

from harness.converge import changed_states, failed_states, salt_call, write_minion_config
from harness.haproxy import wait_for
from harness.own_config import OwnConfigLB
from harness.sandbox import PAGE_MARK, http_get

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SERVERS = ("server01", "server02")
# A reload's new worker answers within this; the tests poll, they never sleep.
RELOAD_TIMEOUT = 15.0


HAPROXY_STATES = {
    "haproxy-package",
    "haproxy-dirs",
    "haproxy-config",
    "haproxy-save-server-state",
    "haproxy-service",
    "haproxy-program",
    "haproxy-reload",
}


@pytest.fixture
def lb(tmp_path):
    """The sandbox LB's supervisord, two app servers, haproxy on the reference config whose
    backup is the sandbox's sorry port, and a masterless minion with manage_config false."""
    lb = OwnConfigLB("own-config", tmp_path, FIXTURES / "reference.cfg", SERVERS).start()
    pillar = lb.pillar()
    pillar_dir = tmp_path / "pillar"
    pillar_dir.mkdir()
    (pillar_dir / "top.sls").write_text("base:\n  '*':\n    - lb\n")
    (pillar_dir / "lb.sls").write_text(yaml.safe_dump(pillar))
    config_dir = write_minion_config(tmp_path / "salt", "own-config", pillar_roots=pillar_dir)
    try:
        yield config_dir, lb
    finally:
        lb.stop()


def highstate(config_dir):
    code, result = salt_call(config_dir, "state.apply")
    assert code == 0 and not failed_states(result), result
    return result


def test_the_highstate_leaves_the_config_alone_and_brings_maintenance_back(lb):
    config_dir, lb = lb
    before = lb.config_digest()
    first = highstate(config_dir)
    # Nothing of haproxy's own is in the highstate: no package, config, reload or restart.
    assert not {ret["__id__"] for ret in first.values()} & HAPROXY_STATES
    assert "sorry-server-service" in changed_states(first)
    assert "haproxy-visitor-files" in changed_states(first)
    code, started = salt_call(config_dir, "haproxy_maint.start", "reason=Upgrade")
    assert code == 0 and started["changed"] == {"https-in": list(SERVERS)}
    assert PAGE_MARK in http_get(lb.url)[1]
    # Another tool reloads HAProxy (a new worker answers); this config has no state file.
    lb.haproxy.reload()
    wait_for(lambda: lb.admin_states()["server01"] == "0", RELOAD_TIMEOUT, "MAINT gone")
    second = highstate(config_dir)
    assert second_changes(second) == {"maint": {"https-in": list(SERVERS)}}
    assert lb.admin_states() == {"server01": "1", "server02": "1", "localhost": "0"}
    assert PAGE_MARK in http_get(lb.url)[1]
    assert lb.config_digest() == before
    code, status = salt_call(config_dir, "haproxy_maint.status")
    assert code == 0 and status["backends_in_maintenance"] == ["https-in"]


def second_changes(result):
    """The changes of the maintenance state (the highstate's last)."""
    [ret] = [ret for ret in result.values() if ret["__id__"] == "haproxy-maint-converged"]
    return ret["changes"]
