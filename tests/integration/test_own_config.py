"""An LB whose haproxy.cfg another tool manages (haproxy:manage_config false), in the real
cluster: the reference setup's own config, run by a harness haproxy, the LB minion
highstated by the master, maintenance from one event and from salt-run, status, stop."""

import json
from pathlib import Path

import pytest
import yaml

from harness.haproxy import wait_for
from harness.own_config import OwnConfigLB
from harness.sandbox import PAGE_MARK, http_get
from tests.integration.conftest import HIGHSTATE_TIMEOUT, minion_overrides
from tests.integration.test_maintenance import send

FIXTURES = Path(__file__).resolve().parents[1] / "functional/fixtures"
LB_ID = "own-lb"  # not lb*: the other modules highstate and target lb*
ENV = "own"
SERVERS = ("server01", "server02")
SWITCH_TIMEOUT = 15


def serves(url, mark):
    return lambda: mark in http_get(url)[1]


@pytest.fixture(scope="module")
def own_lb(tmp_path_factory, master, pillar_root):
    """Two app servers, the sandbox's supervisord, haproxy on the reference config (its
    backup the sandbox's sorry port), the LB's pillar (manage_config false) in the master's
    pillar tree, and its minion."""
    root = tmp_path_factory.mktemp("own")
    lb = OwnConfigLB(LB_ID, root, FIXTURES / "reference.cfg", SERVERS).start()
    pillar = lb.pillar(env=ENV)
    (pillar_root / f"{LB_ID}.sls").write_text(yaml.safe_dump(pillar))
    top = json.loads((pillar_root / "top.sls").read_text())
    top["base"][LB_ID] = [LB_ID]
    (pillar_root / "top.sls").write_text(json.dumps(top))
    minion = master.salt_minion_daemon(LB_ID, overrides=minion_overrides())
    try:
        with minion.started(start_timeout=120):
            yield lb
    finally:
        lb.stop()


@pytest.fixture(scope="module")
def own_cluster(own_lb, salt_cli):
    """The LB highstated by the master: the sorry server runs, haproxy.cfg is untouched."""
    before = own_lb.config_digest()
    ret = salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=LB_ID)
    assert ret.returncode == 0, ret
    ret = salt_cli.run("state.apply", minion_tgt=LB_ID, _timeout=HIGHSTATE_TIMEOUT)
    assert ret.returncode == 0, ret.stdout
    assert own_lb.config_digest() == before
    wait_for(serves(own_lb.url, "APP server0"), SWITCH_TIMEOUT, "the app through haproxy")
    return own_lb


def test_one_event_fails_the_own_config_over_and_stop_brings_the_app_back(
    own_cluster, ops_minion, event_listener, master, salt_run_cli
):
    url = own_cluster.url
    before = own_cluster.config_digest()
    tag, result = send(
        ops_minion, "maint/start", {"env": ENV, "reason": "Upgrade"}, event_listener, master
    )
    assert tag == "maint/result" and result["result"] is True, result
    assert result["lbs"][LB_ID]["changed"] == {"https-in": list(SERVERS)}
    assert own_cluster.admin_states() == {"server01": "1", "server02": "1", "localhost": "0"}
    wait_for(serves(url, PAGE_MARK), SWITCH_TIMEOUT, "the page")
    status = salt_run_cli.run("haproxy_maint.status", ENV, "--out=json")
    assert status.returncode == 0, status
    lb = status.data["envs"][ENV]["lbs"][LB_ID]
    assert lb["backends_in_maintenance"] == ["https-in"]
    assert {lb["backends"]["https-in"][server]["admin"] for server in SERVERS} == {"maint"}
    stop = salt_run_cli.run("haproxy_maint.stop", ENV)
    assert stop.returncode == 0 and stop.data["state"] == "ok", stop
    assert own_cluster.admin_states() == {"server01": "0", "server02": "0", "localhost": "0"}
    wait_for(serves(url, "APP server0"), SWITCH_TIMEOUT, "the app back")
    assert own_cluster.config_digest() == before


def test_a_backend_the_running_config_lacks_is_refused_naming_those_it_has(
    own_cluster, salt_run_cli
):
    salt_run_cli.run("haproxy_maint.stop", ENV)
    ret = salt_run_cli.run("haproxy_maint.start", ENV, 'backends=["app"]')
    assert ret.returncode == 2, ret
    assert "https-in" in ret.data["why"], ret.data
    assert own_cluster.admin_states()["server01"] == "0"
