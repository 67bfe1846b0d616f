"""The single-master default: a master without ``cache:`` keeps the desired state in Salt's
``localfs`` cache under its cachedir, and needs nothing that a shared cache needs (issue 13).

The whole single-master suite (tests/integration) runs on this default; this test pins where
the record lands, with the ``redis`` client made unimportable."""

import datetime
import json
import subprocess
import sys

import salt.payload
import yaml

from harness.sandbox import REPO

ENV = "test"
MASTER_ID = "solo"
LB_ID = "lb-solo"
RUN_TIMEOUT = 60
# salt-run with the redis client unimportable: the default cache must not need it.
SALT_RUN_WITHOUT_REDIS = (
    "import sys; sys.modules['redis'] = None; from salt.scripts import salt_run; salt_run()"
)


def salt_run(config_dir, *args):
    proc = subprocess.run(
        [sys.executable, "-c", SALT_RUN_WITHOUT_REDIS, "-c", str(config_dir), "--out=json", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_a_master_without_cache_setting_keeps_the_record_in_localfs(tmp_path):
    cachedir = tmp_path / "cache"
    (cachedir / "proc").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    config = {
        "id": MASTER_ID,
        "root_dir": str(tmp_path),
        "cachedir": str(cachedir),
        "pki_dir": str(tmp_path / "pki"),
        "sock_dir": str(tmp_path / "run"),
        "log_file": str(tmp_path / "master.log"),
        "runner_dirs": [str(REPO / "_runners")],
        "utils_dirs": [str(REPO / "_utils")],
        # A window is checked when it is scheduled: its target must match an LB (an accepted
        # key here), and the master's scheduler must have the entry that will run it.
        "haproxy_maint": {
            "environments": {ENV: {"trust": "minion-id", "target": LB_ID, "tgt_type": "list"}}
        },
        "schedule": {"haproxy_maint_windows": {"function": "haproxy_maint.run_windows"}},
    }
    (tmp_path / "master").write_text(yaml.safe_dump(config))
    accepted = tmp_path / "pki" / "minions"
    accepted.mkdir(parents=True)
    (accepted / LB_ID).write_text("an accepted key, never used: nothing is published\n")
    # A pending window is recorded without publishing to the LB.
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    scheduled = salt_run(tmp_path, "haproxy_maint.start", ENV, f"at={at:%Y-%m-%dT%H:%M:%SZ}")
    assert scheduled["state"] == "scheduled", scheduled

    record = cachedir / "haproxy_maint" / "desired" / ENV / f"{MASTER_ID}.p"
    stored = salt.payload.loads(record.read_bytes())
    assert stored["stamp"] == scheduled["stamp"]
    assert stored["window"]["start_at"] == scheduled["window"]["start_at"]
    assert salt_run(tmp_path, "haproxy_maint.desired", ENV) == stored
