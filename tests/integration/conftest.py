"""A real cluster: salt-master with the reactor, LB minions each with its own haproxy,
sorry server and supervisord, an authorised operator minion and an unauthorised one."""

import json
import logging

import pytest
import yaml

from harness.haproxy import wait_for
from harness.sandbox import REPO, AppServer, SandboxLB, serves_app, serves_page

log = logging.getLogger(__name__)

LB_IDS = ("lb1", "lb2")
HIGHSTATE_TIMEOUT = 600
READY_TIMEOUT = 30


@pytest.fixture(scope="package")
def app_servers():
    servers = {name: AppServer(name).start() for name in ("app1", "app2", "api1")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="package")
def backends(app_servers):
    return {
        "app": {"app1": app_servers["app1"].address, "app2": app_servers["app2"].address},
        "api": {"api1": app_servers["api1"].address},
    }


@pytest.fixture(scope="package")
def lbs(tmp_path_factory, backends):
    root = tmp_path_factory.mktemp("lbs")
    sandboxes = {lb_id: SandboxLB(lb_id, root, backends).start_supervisord() for lb_id in LB_IDS}
    yield sandboxes
    for sandbox in sandboxes.values():
        sandbox.stop()


@pytest.fixture(scope="package")
def pillar_root(tmp_path_factory, lbs):
    root = tmp_path_factory.mktemp("pillar")
    top = {"base": {lb_id: [lb_id] for lb_id in lbs}}
    (root / "top.sls").write_text(json.dumps(top))
    for lb_id, sandbox in lbs.items():
        (root / f"{lb_id}.sls").write_text(json.dumps(sandbox.pillar()))
    return root


EXAMPLE_MASTER_CONFIG = REPO / "docs/examples/master.d-haproxy_maint.conf"
EXAMPLE_CHECKOUT = "/srv/haproxy-maint"


def reactor_config():
    """The reactor mapping of the documented master config, pointed at this checkout."""
    config = yaml.safe_load(EXAMPLE_MASTER_CONFIG.read_text())
    return [
        {tag: [path.replace(EXAMPLE_CHECKOUT, str(REPO)) for path in paths]}
        for entry in config["reactor"]
        for tag, paths in entry.items()
    ]


@pytest.fixture(scope="package")
def master(salt_factories, pillar_root):
    factory = salt_factories.salt_master_daemon(
        "maint-master",
        overrides={
            "interface": "127.0.0.1",
            "file_roots": {"base": [str(REPO / "salt"), str(REPO / "docs/examples/top")]},
            "pillar_roots": {"base": [str(pillar_root)]},
            "runner_dirs": [str(REPO / "_runners")],
            "utils_dirs": [str(REPO / "_utils")],
            "outputter_dirs": [str(REPO / "_output")],
            "reactor": reactor_config(),
            "haproxy_maint": {
                "timeout": 8,
                "gather_job_timeout": 2,
                "not_up_wait": 5,
                "environments": {
                    # Plain event.send, trusting the event's id (the documented weaker level).
                    "test": {"allow": ["ops", "lb*"], "trust": "minion-id"},
                    # The same LBs, signed requests only.
                    "secure": {"allow": ["ops"], "target": "L@lb1,lb2"},
                    # An LB whose haproxy.cfg another tool manages (test_own_config.py).
                    "own": {"allow": ["ops"], "trust": "minion-id", "target": "L@own-lb"},
                },
            },
            # Scheduled windows: the runner looks every second (the example says 10).
            "schedule": {
                "haproxy_maint_windows": {"function": "haproxy_maint.run_windows", "seconds": 1}
            },
        },
    )
    with factory.started(start_timeout=120):
        yield factory


def minion_overrides():
    return {
        "module_dirs": [str(REPO / "_modules")],
        "states_dirs": [str(REPO / "_states")],
        "utils_dirs": [str(REPO / "_utils")],
        "master": "127.0.0.1",
    }


@pytest.fixture(scope="package")
def lb_minions(master, lbs):
    factories = {
        lb_id: master.salt_minion_daemon(lb_id, overrides=minion_overrides()) for lb_id in lbs
    }
    for factory in factories.values():
        factory.start(start_timeout=120)
    yield factories
    for factory in factories.values():
        if factory.is_running():
            factory.terminate()


@pytest.fixture(scope="package")
def ops_minion(master):
    factory = master.salt_minion_daemon("ops", overrides=minion_overrides())
    with factory.started(start_timeout=120):
        yield factory


@pytest.fixture(scope="package")
def intruder_minion(master):
    factory = master.salt_minion_daemon("intruder", overrides=minion_overrides())
    with factory.started(start_timeout=120):
        yield factory


@pytest.fixture(scope="package")
def salt_cli(master):
    return master.salt_cli(timeout=HIGHSTATE_TIMEOUT)


@pytest.fixture(scope="package")
def salt_run_cli(master):
    return master.salt_run_cli(timeout=120)


@pytest.fixture(scope="package")
def cluster(master, lb_minions, lbs, salt_cli, ops_minion, intruder_minion):
    """Every LB highstated and serving the app; returns the sandboxes by minion id."""
    return highstate_lbs(salt_cli, "lb*", lbs)


def highstate_lbs(salt_cli, glob, lbs):
    """Refresh the LBs' pillar, highstate them, wait until each serves the app; the LBs."""
    ret = salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=glob)
    assert ret.returncode == 0, ret
    ret = salt_cli.run("state.apply", minion_tgt=glob, _timeout=HIGHSTATE_TIMEOUT)
    assert ret.returncode == 0, ret.stdout
    for sandbox in lbs.values():
        for backend in ("app", "api"):
            wait_for(
                lambda s=sandbox, b=backend: serves_app(s, b), READY_TIMEOUT, f"{backend} served"
            )
    return lbs


@pytest.fixture(scope="module")
def calm_cluster(cluster, salt_run_cli):
    """Maintenance off once, for a series of tests that must each change nothing (each still
    compares the admin states before and after itself)."""
    salt_run_cli.run("haproxy_maint.stop", "test")
    return cluster


@pytest.fixture(scope="package")
def ops_caller(ops_minion):
    """``salt-call`` of the ops minion in-process: the same event.send without a CLI start-up
    per event (the hostile-input tests send dozens)."""
    import salt.client

    return salt.client.Caller(mopts=dict(ops_minion.config))


@pytest.fixture
def clean_cluster(cluster, salt_run_cli):
    """Each test starts and ends with maintenance off on every LB."""
    salt_run_cli.run("haproxy_maint.stop", "test")
    yield cluster
    salt_run_cli.run("haproxy_maint.stop", "test")


__all__ = ["serves_app", "serves_page"]
