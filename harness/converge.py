"""Masterless salt-call runs of this repo's state tree and pillar, with their JSON results."""

import json
import subprocess
import sys
from pathlib import Path

from harness import REPO

SALT_CALL = str(Path(sys.executable).with_name("salt-call"))
SALT_TIMEOUT = 300


def write_minion_config(config_dir, minion_id, pillar_roots=None):
    """A masterless minion config whose caches live under ``config_dir``; its pillar is this
    repo's example pillar, or the tree at ``pillar_roots``."""
    config_dir = Path(config_dir)
    cache = config_dir / "cache"
    lines = [
        f"id: {minion_id}",
        "file_client: local",
        f"cachedir: {cache}",
        f"extension_modules: {cache / 'extmods'}",
        f"pki_dir: {cache / 'pki'}",
        f"sock_dir: {cache / 'sock'}",
        f"log_file: {config_dir / 'minion.log'}",
        f"file_roots: {{base: [{REPO / 'salt'}, {REPO / 'docs/examples/top'}]}}",
        f"pillar_roots: {{base: [{pillar_roots or REPO / 'pillar'}]}}",
        f"module_dirs: [{REPO / '_modules'}]",
        f"states_dirs: [{REPO / '_states'}]",
        f"utils_dirs: [{REPO / '_utils'}]",
        # As in dev/converge/minion.in: no systemd runs here, use the init scripts.
        "disable_modules: [systemd_service]",
    ]
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "minion").write_text("\n".join(lines) + "\n")
    return config_dir


def salt_call(config_dir, *args, pillar=None):
    """Run ``salt-call --local --out=json``; return (exit code, the ``local`` result)."""
    command = [SALT_CALL, "--local", "-c", str(config_dir), "--out=json", "--retcode-passthrough"]
    command += list(args)
    if pillar is not None:
        command.append(f"pillar={json.dumps(pillar)}")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=SALT_TIMEOUT)
    return proc.returncode, parse_local(proc.stdout, proc.stderr)


def parse_local(stdout, stderr=""):
    """The ``local`` value of salt-call's JSON output."""
    try:
        return json.loads(stdout)["local"]
    except (ValueError, KeyError) as err:
        raise AssertionError(f"no JSON result from salt-call:\n{stdout}\n{stderr}") from err


def changed_states(result):
    """IDs of the states that report changes (``result`` is a state run's ``local`` dict)."""
    assert isinstance(result, dict), f"the state run did not render: {result}"
    return sorted(ret["__id__"] for ret in result.values() if ret.get("changes"))


def failed_states(result):
    """State results (ID and comment) whose ``result`` is False."""
    assert isinstance(result, dict), f"the state run did not render: {result}"
    return {ret["__id__"]: ret["comment"] for ret in result.values() if ret["result"] is False}


def make_maint(action, **variables):
    """``make maint-start`` / ``make maint-stop`` on this machine's ``make converge`` LB, with
    ``VAR=value`` arguments (``REASON``, ``ETA``, ``ETA_AT``, ``BYPASS``); its output."""
    arguments = [f"{name}={value}" for name, value in variables.items()]
    proc = subprocess.run(
        ["make", "-s", "--no-print-directory", f"maint-{action}", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SALT_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout
