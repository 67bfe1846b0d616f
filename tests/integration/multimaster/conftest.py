"""Two real masters sharing a real Redis (Salt's ``redis`` cache, issue 13), and two LB
minions connected to both (multi-master), each with its own sandbox LB.

The masters share one key pair (copied from A to B before B first starts), accept minions
by themselves (``auto_accept``, this throw-away cluster only) and keep Salt's cache,
so the desired state, in one ``redis-server`` that the fixture starts on loopback.
"""

import json
import shutil
import subprocess
import time
from dataclasses import dataclass

import pytest
import redis

from harness.haproxy import free_port, stop_pid, wait_for
from harness.sandbox import REPO, SandboxLB
from tests.integration.conftest import highstate_lbs, minion_overrides, reactor_config

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_START_TIMEOUT = 15
MASTER_IDS = ("mm-a", "mm-b")
LB_IDS = ("mm-lb1", "mm-lb2")
LB_GLOB = "mm-lb*"
ENV = "test"
START_TIMEOUT = 120
HIGHSTATE_TIMEOUT = 600
# The catch-up of a (re)started LB: the start event, the reactor, one publish, the return.
CATCH_UP_TIMEOUT = 60
# A master that came back: how long its minions may take to authenticate with it again.
RECONNECT_TIMEOUT = 60


@dataclass
class RedisServer:
    """Debian's redis-server on a loopback port, no persistence, stopped by PID."""

    port: int
    proc: subprocess.Popen

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def answers(self):
        try:
            return self.client().ping()
        except redis.exceptions.ConnectionError:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}") from None
            return False


@pytest.fixture(scope="package")
def redis_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    with open(workdir / "redis.log", "wb") as log:
        proc = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = RedisServer(port, proc)
    try:
        wait_for(server.answers, REDIS_START_TIMEOUT, f"redis-server on port {port}")
        yield server
    finally:
        stop_pid(proc)


@pytest.fixture(scope="package")
def lbs(tmp_path_factory, backends):
    """The two LBs, on the app servers of tests/integration/conftest.py's ``backends``."""
    root = tmp_path_factory.mktemp("mm-lbs")
    sandboxes = {lb_id: SandboxLB(lb_id, root, backends).start_supervisord() for lb_id in LB_IDS}
    yield sandboxes
    for sandbox in sandboxes.values():
        sandbox.stop()


@pytest.fixture(scope="package")
def pillar_root(tmp_path_factory, lbs):
    root = tmp_path_factory.mktemp("mm-pillar")
    (root / "top.sls").write_text(json.dumps({"base": {lb_id: [lb_id] for lb_id in lbs}}))
    for lb_id, sandbox in lbs.items():
        (root / f"{lb_id}.sls").write_text(json.dumps(sandbox.pillar()))
    return root


def master_overrides(pillar_root, redis_port):
    """The integration suite's master, plus the shared Redis cache and auto_accept."""
    return {
        "interface": "127.0.0.1",
        "file_roots": {"base": [str(REPO / "salt"), str(REPO / "docs/examples/top")]},
        "pillar_roots": {"base": [str(pillar_root)]},
        "runner_dirs": [str(REPO / "_runners")],
        "utils_dirs": [str(REPO / "_utils")],
        "outputter_dirs": [str(REPO / "_output")],
        "reactor": reactor_config(),
        # Both masters must accept the LBs' keys; a throw-away test cluster may auto-accept.
        "auto_accept": True,
        "cache": "redis",
        "cache.redis.host": "127.0.0.1",
        "cache.redis.port": redis_port,
        "haproxy_maint": {
            "timeout": 8,
            "gather_job_timeout": 2,
            "not_up_wait": 5,
            "environments": {ENV: {"allow": ["*"], "trust": "minion-id"}},
        },
    }


@pytest.fixture(scope="package")
def masters(salt_factories, pillar_root, redis_server):
    """Masters A and B, started; B holds A's key pair (multi-master needs one master key)."""
    overrides = master_overrides(pillar_root, redis_server.port)
    master_a = salt_factories.salt_master_daemon(MASTER_IDS[0], overrides=overrides)
    master_b = salt_factories.salt_master_daemon(MASTER_IDS[1], overrides=overrides)
    with master_a.started(start_timeout=START_TIMEOUT):
        for name in ("master.pem", "master.pub"):
            shutil.copy2(
                f"{master_a.config['pki_dir']}/{name}", f"{master_b.config['pki_dir']}/{name}"
            )
        with master_b.started(start_timeout=START_TIMEOUT):
            yield master_a, master_b


def master_address(master):
    return f"127.0.0.1:{master.config['ret_port']}"


def minion_start_events(minion_id, masters):
    """The start event a minion of both masters fires to each of them."""
    return [(master.id, f"salt/minion/{minion_id}/start") for master in masters]


def start_on_both(factory, masters, event_listener):
    """Start an LB minion and wait until both masters saw it start (each runs its catch-up)."""
    after = time.time()
    factory.start(start_timeout=START_TIMEOUT)
    matched = event_listener.wait_for_events(
        minion_start_events(factory.id, masters), timeout=START_TIMEOUT, after_time=after
    )
    assert matched.found_all_events, f"{factory.id} did not start on both masters"
    return after


@pytest.fixture(scope="package")
def lb_minions(masters, lbs, event_listener):
    master_a, _master_b = masters
    overrides = {**minion_overrides(), "master": [master_address(m) for m in masters]}
    factories = {lb_id: master_a.salt_minion_daemon(lb_id, overrides=overrides) for lb_id in lbs}
    for factory in factories.values():
        start_on_both(factory, masters, event_listener)
    yield factories
    for factory in factories.values():
        if factory.is_running():
            factory.terminate()


@pytest.fixture(scope="package")
def cluster(masters, lb_minions, lbs):
    """Every LB highstated (through master A) and serving the app."""
    return highstate_lbs(masters[0].salt_cli(timeout=HIGHSTATE_TIMEOUT), LB_GLOB, lbs)


@pytest.fixture
def clean_cluster(cluster, masters):
    """Each test starts and ends with maintenance off on every LB."""
    stop = masters[0].salt_run_cli(timeout=120)
    assert stop.run("haproxy_maint.stop", ENV).returncode == 0
    yield cluster
    stop.run("haproxy_maint.stop", ENV)
