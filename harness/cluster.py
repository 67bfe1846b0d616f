"""A real local Salt cluster without pytest: a salt-master with this project's reactor and
runner, one salt-minion per sandbox LB, an operator minion, and the app servers behind them.

The demo and the benchmarks use it. Every daemon gets its own config and root dir under
``root`` (nothing in ``/etc/salt`` is touched), listens on loopback ports only, and is started
by us with ``Popen`` so that :py:meth:`Cluster.stop` ends exactly what it started, by PID.

.. code-block:: python

    cluster = Cluster(Path(tempfile.mkdtemp()), lb_count=2, env="demo")
    try:
        cluster.start()
        cluster.highstate()
        with cluster.event_listener() as events:
            cluster.caller().cmd("event.send", "maint/start", {"env": "demo"})
            result = events.wait("maint/result", timeout=60)
    finally:
        cluster.stop()
"""

import atexit
import contextlib
import fnmatch
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from harness.haproxy import free_port, wait_for
from harness.sandbox import REPO, START_TIMEOUT, AppServer, SandboxLB

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
APP_SERVERS = ("app1", "app2", "api1")
OPS_MINION = "ops"
STOP_TIMEOUT = 15.0
READY_TIMEOUT = 120.0
PING_TIMEOUT = 5
CLI_TIMEOUT = 120
HIGHSTATE_TIMEOUT = 900
EVENT_TIMEOUT = 60.0
RUNNER_CONFIG = {"timeout": 8, "gather_job_timeout": 2}
REACTOR_SLS = {
    "maint/start": "maint_start.sls",
    "maint/stop": "maint_stop.sls",
    "maint/cancel": "maint_cancel.sls",
    "salt/minion/*/start": "minion_start.sls",
}


class ClusterError(RuntimeError):
    """A cluster step failed; the message names what and why."""


class _Daemon:
    """One process we started, in its own session so that a terminal's Ctrl-C reaches only
    the launcher, which then stops everything in order."""

    def __init__(self, name, argv, log_path):
        self.name = name
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self):
        return self.proc.poll() is None

    def terminate(self):
        if self.alive():
            self.proc.terminate()

    def stop(self, timeout=STOP_TIMEOUT):
        """TERM the process, KILL it after ``timeout``; then KILL what is left of its group
        (salt daemons fork workers; the group is ours, created at start)."""
        self.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _stop_together(daemons):
    """TERM every daemon first, then wait for each: a salt-minion takes seconds to exit."""
    for daemon in daemons:
        daemon.terminate()
    for daemon in daemons:
        daemon.stop()


class _QuietAppServer(AppServer):
    """An app server in its own session with its output in a log file, so Ctrl-C in the
    terminal does not print its KeyboardInterrupt traceback."""

    log_dir: Path = None

    def start(self):
        script = str(REPO / "harness/app_server.py")
        argv = [sys.executable, script, "--name", self.name, "--port", str(self.port)]
        self.daemon = _Daemon(self.name, argv, self.log_dir / f"{self.name}.log")
        self.proc = self.daemon.proc
        wait_for(self._answers, START_TIMEOUT, f"app server {self.name}")
        return self

    def _answers(self):
        from harness.sandbox import http_get

        if not self.daemon.alive():
            raise ClusterError(f"app server {self.name} exited with {self.proc.returncode}")
        return http_get(f"http://{self.address}/")[0] == 200

    def stop(self):
        if self.proc is not None:
            self.daemon.stop()
            self.proc = None


class EventListener:
    """A subscriber to the master's event bus; :py:meth:`wait` returns an event's data."""

    def __init__(self, event):
        self.event = event

    def wait(self, tag_pattern, timeout=EVENT_TIMEOUT, match=None):
        """The data of the first event whose tag matches ``tag_pattern`` (a glob) and, when
        given, whose data satisfies ``match(data)``; the tag is added as ``data["_tag"]``.
        ``TimeoutError`` after ``timeout`` seconds. Other events are skipped."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            event = self.event.get_event(wait=remaining, full=True, auto_reconnect=True)
            if not event or not fnmatch.fnmatchcase(event["tag"], tag_pattern):
                continue
            data = {**event["data"], "_tag": event["tag"]}
            if match is None or match(data):
                return data
        raise TimeoutError(f"no event {tag_pattern!r} within {timeout}s")


class Cluster:
    """A salt-master, ``lb_count`` LB minions with sandbox LBs, an ``ops`` minion, and the
    app servers ``app1``, ``app2`` (backend ``app``) and ``api1`` (backend ``api``)."""

    def __init__(
        self,
        root: Path,
        lb_count: int = 2,
        env: str = "demo",
        allow=("ops",),
        trust="minion-id",
        extra_environments=None,
    ):
        self.root = Path(root)
        self.env = env
        self.allow = list(allow)
        self.trust = trust
        self.extra_environments = dict(extra_environments or {})
        self.salt_root = self.root / "salt"
        self.master_config_dir = self.salt_root / "master" / "conf"
        self.pillar_root = self.salt_root / "pillar"
        self.publish_port = free_port()
        self.ret_port = free_port()
        self.apps = {name: _QuietAppServer(name) for name in APP_SERVERS}
        for app in self.apps.values():
            app.log_dir = self.root
        backends = {
            "app": {name: self.apps[name].address for name in ("app1", "app2")},
            "api": {"api1": self.apps["api1"].address},
        }
        self.lbs = {
            f"lb{n}": SandboxLB(f"lb{n}", self.root / "lbs", backends, env=env)
            for n in range(1, lb_count + 1)
        }
        self.minion_ids = [*self.lbs, OPS_MINION]
        self._master = None
        self._minions = {}
        self._callers = {}
        self._stopped = False
        self._stop_lock = threading.Lock()
        self._previous_handlers = {}

    # --- configuration ---------------------------------------------------------------

    def minion_config_dir(self, minion_id):
        return self.salt_root / minion_id / "conf"

    def _paths(self, name, kind):
        base = self.salt_root / name
        return {
            "root_dir": str(base),
            "pki_dir": str(base / "pki"),
            "cachedir": str(base / "cache"),
            "sock_dir": str(base / "sock"),
            "extension_modules": str(base / "extmods"),
            "pidfile": str(base / f"salt-{kind}.pid"),
            "log_file": str(base / f"{kind}.log"),
            "log_level_logfile": "info",
            "user": "root",
        }

    def master_config(self):
        reactor = [{tag: [str(REPO / "reactor" / sls)]} for tag, sls in REACTOR_SLS.items()]
        return {
            **self._paths("master", "master"),
            "interface": HOST,
            "publish_port": self.publish_port,
            "ret_port": self.ret_port,
            # A throw-away cluster on loopback: every minion here is ours.
            "auto_accept": True,
            "file_roots": {"base": [str(REPO / "salt"), str(REPO / "docs/examples/top")]},
            "pillar_roots": {"base": [str(self.pillar_root)]},
            "runner_dirs": [str(REPO / "_runners")],
            "utils_dirs": [str(REPO / "_utils")],
            "outputter_dirs": [str(REPO / "_output")],
            "reactor": reactor,
            "haproxy_maint": {
                **RUNNER_CONFIG,
                "environments": {
                    self.env: {"allow": self.allow, "trust": self.trust},
                    **self.extra_environments,
                },
            },
        }

    def minion_config(self, minion_id):
        return {
            **self._paths(minion_id, "minion"),
            "id": minion_id,
            "master": HOST,
            "master_port": self.ret_port,
            "publish_port": self.publish_port,
            "acceptance_wait_time": 1,
            "random_reauth_delay": 0,
            "module_dirs": [str(REPO / "_modules")],
            "states_dirs": [str(REPO / "_states")],
            "utils_dirs": [str(REPO / "_utils")],
            "multiprocessing": True,
        }

    def _write_configs(self):
        self.master_config_dir.mkdir(parents=True, exist_ok=True)
        _write_yaml(self.master_config_dir / "master", self.master_config())
        for minion_id in self.minion_ids:
            conf_dir = self.minion_config_dir(minion_id)
            conf_dir.mkdir(parents=True, exist_ok=True)
            _write_yaml(conf_dir / "minion", self.minion_config(minion_id))
        self.pillar_root.mkdir(parents=True, exist_ok=True)
        top = {"base": {lb_id: [lb_id] for lb_id in self.lbs}}
        _write_yaml(self.pillar_root / "top.sls", top)
        for lb_id, lb in self.lbs.items():
            _write_yaml(self.pillar_root / f"{lb_id}.sls", lb.pillar())

    # --- life cycle ------------------------------------------------------------------

    def start(self):
        """Start apps, supervisords, master and minions; wait until every minion answers."""
        self._install_stop_hooks()
        self._write_configs()
        for app in self.apps.values():
            app.start()
        for lb in self.lbs.values():
            lb.start_supervisord()
        self._master = self._daemon("master", "salt-master", self.master_config_dir)
        wait_for(self._master_ready, READY_TIMEOUT, "salt-master")
        for minion_id in self.minion_ids:
            self._minions[minion_id] = self._daemon(
                minion_id, "salt-minion", self.minion_config_dir(minion_id)
            )
        wait_for(self._minions_answer, READY_TIMEOUT, "every minion to answer test.ping")
        self.salt("-L", ",".join(self.lbs), "saltutil.refresh_pillar", "wait=True")
        return self

    def _daemon(self, name, program, config_dir):
        log = self.salt_root / name / f"{program}.out"
        argv = [str(BIN / program), "-c", str(config_dir), "-l", "quiet"]
        return _Daemon(name, argv, log)

    def _master_ready(self):
        if not self._master.alive():
            raise ClusterError(f"salt-master exited; see {self.salt_root / 'master'}")
        sock_dir = Path(self.master_config()["sock_dir"])
        return any(sock_dir.glob("master_event_pub*"))

    def _minions_answer(self):
        for minion_id, daemon in self._minions.items():
            if not daemon.alive():
                raise ClusterError(f"salt-minion {minion_id} exited; see its minion.log")
        answers = self.salt(
            "-L", ",".join(self.minion_ids), "test.ping", "-t", str(PING_TIMEOUT), check=False
        )
        return all(answers.get(minion_id) is True for minion_id in self.minion_ids)

    def stop(self):
        """Stop everything we started, by PID, in reverse order. Safe to call again."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        _stop_together(list(self._minions.values())[::-1])
        if self._master is not None:
            self._master.stop()
        for lb in reversed(list(self.lbs.values())):
            lb.stop()
        for app in reversed(list(self.apps.values())):
            app.stop()
        self._restore_signal_handlers()

    def _install_stop_hooks(self):
        atexit.register(self.stop)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return
        while self._previous_handlers:
            signum, handler = self._previous_handlers.popitem()
            signal.signal(signum, handler)

    def _on_signal(self, signum, frame):
        if self._stopped:
            return
        self.stop()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        sys.exit(128 + signum)

    def daemon_pids(self):
        """``{name: pid}`` of the salt daemons we started: ``master`` and every minion id.
        Each leads its own session, so its workers and job processes carry its pid as their
        session id (what the failover benchmark sums CPU time over)."""
        pids = {minion_id: daemon.proc.pid for minion_id, daemon in self._minions.items()}
        if self._master is not None:
            pids["master"] = self._master.proc.pid
        return pids

    # --- commands --------------------------------------------------------------------

    def _run(self, program, config_dir, args, timeout=CLI_TIMEOUT):
        argv = [str(BIN / program), "-c", str(config_dir), *map(str, args)]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout + 30, check=False
        )

    def _cli(self, program, config_dir, args, check=True, timeout=CLI_TIMEOUT):
        proc = self._run(program, config_dir, ["--out=json", *args], timeout)
        if check and proc.returncode != 0:
            raise ClusterError(
                f"{program} {' '.join(map(str, args))} exited with {proc.returncode}: "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        try:
            return json.loads(proc.stdout) if proc.stdout.strip() else {}
        except json.JSONDecodeError as err:
            if not check:
                return {}
            raise ClusterError(f"{program} printed no JSON: {proc.stdout[-2000:]}") from err

    def salt(self, *args, check=True, timeout=CLI_TIMEOUT):
        """``salt <args> --out=json --static``; the parsed answer of every minion."""
        return self._cli(
            "salt",
            self.master_config_dir,
            ["--static", "-t", timeout, *args],
            check=check,
            timeout=timeout,
        )

    def salt_run(self, *args, check=True, timeout=CLI_TIMEOUT):
        """``salt-run <args> --out=json``; the runner's return."""
        return self._cli("salt-run", self.master_config_dir, ["-t", timeout, *args], check, timeout)

    def salt_run_text(self, *args, timeout=CLI_TIMEOUT):
        """``salt-run <args>``: ``(exit code, what it printed on stdout)`` (Salt's own warnings
        go to stderr)."""
        proc = self._run("salt-run", self.master_config_dir, ["-t", timeout, *args], timeout)
        return proc.returncode, proc.stdout

    def salt_call_text(self, minion, *args, timeout=CLI_TIMEOUT):
        """``salt-call <args>`` as ``minion`` sees it: ``(exit code, what it printed)``."""
        proc = self._run("salt-call", self.minion_config_dir(minion), list(args), timeout)
        return proc.returncode, proc.stdout + proc.stderr

    def salt_call(self, minion, *args, check=True, timeout=CLI_TIMEOUT):
        """``salt-call <args> --out=json`` as ``minion``; its ``local`` return."""
        answer = self._cli(
            "salt-call",
            self.minion_config_dir(minion),
            ["--retcode-passthrough", *args],
            check,
            timeout,
        )
        return answer.get("local", answer) if isinstance(answer, dict) else answer

    def highstate(self, timeout=HIGHSTATE_TIMEOUT):
        """``salt 'lb*' state.apply``; the returns, or ``ClusterError`` naming failed states."""
        returns = self.salt("-L", ",".join(self.lbs), "state.apply", check=False, timeout=timeout)
        failures = []
        for lb_id in self.lbs:
            ret = returns.get(lb_id)
            if not isinstance(ret, dict):
                failures.append(f"{lb_id}: {ret or 'no answer'}")
                continue
            failures += [
                f"{lb_id}: {state.get('__id__', key)}: {state.get('comment', '')}"
                for key, state in ret.items()
                if isinstance(state, dict) and state.get("result") is False
            ]
        if failures:
            raise ClusterError("highstate failed:\n  " + "\n  ".join(failures))
        return returns

    @contextlib.contextmanager
    def event_listener(self):
        """Yield an :py:class:`EventListener` subscribed to the master's event bus."""
        import salt.config
        import salt.utils.event

        opts = salt.config.master_config(str(self.master_config_dir / "master"))
        event = salt.utils.event.get_event(
            "master", sock_dir=opts["sock_dir"], opts=opts, listen=True
        )
        try:
            event.connect_pub()
            yield EventListener(event)
        finally:
            event.destroy()

    def caller(self, minion_id=OPS_MINION):
        """A ``salt.client.Caller`` for ``minion_id`` (created once), to fire events
        in-process without salt-call's start-up cost."""
        if minion_id not in self._callers:
            import salt.client

            config = self.minion_config_dir(minion_id) / "minion"
            self._callers[minion_id] = salt.client.Caller(str(config))
        return self._callers[minion_id]


def _write_yaml(path, data):
    path.write_text(yaml.safe_dump(data, default_flow_style=False, sort_keys=False))
