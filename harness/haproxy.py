"""Real haproxy processes for tests and benchmarks: written config, started, stopped by PID."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

HAPROXY = "/usr/sbin/haproxy"
START_TIMEOUT = 10.0
# Seconds a reload waits for a new worker before it sends USR2 again.
RELOAD_RESEND = 2.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.02


# Ports this process handed out. The kernel may give a port that is free now to a later call
# as well (nothing holds it in between), and HAProxy binds with SO_REUSEPORT: two sandbox
# listeners on one port both bind, and the kernel splits the connections between them (an
# HTTP request answered by a runtime socket's "Unknown command" in one full run).
_HANDED_OUT = set()


def free_port(host="127.0.0.1"):
    """Ask the kernel for a free TCP port on a loopback address, never one this process
    handed out before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_for(predicate, timeout, what, interval=POLL_INTERVAL):
    """Poll ``predicate`` until it returns a true value or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def runtime_command(socket_path, text, timeout=5):
    """One raw runtime command over a unix socket, as ``socat`` would send it: independent of
    the module under test, so tests can check what HAProxy really holds."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(text.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def stop_pid(proc, timeout=STOP_TIMEOUT):
    """Stop a process we started: TERM, then KILL after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


@dataclass
class HAProxy:
    """One haproxy with a unix admin socket, a loopback TCP admin socket and an HTTP frontend.

    ``backends`` maps a backend name to ``{server: "host:port"}``; every backend also gets a
    ``backup`` server named ``sorry_name`` at ``sorry_address`` when that is set. ``config``,
    when set, is a whole haproxy.cfg to run instead (it must give ``socket`` at level admin).
    """

    workdir: Path
    backends: dict
    sorry_address: str = ""
    sorry_name: str = "localhost"
    extra_global: str = ""
    extra_frontend: str = ""
    default_server: str = ""
    extra_sections: str = ""
    check: bool = False
    frontend_port: int = field(default_factory=free_port)
    tcp_port: int = field(default_factory=free_port)
    config: str = ""
    proc: subprocess.Popen = None

    @property
    def socket(self):
        return str(self.workdir / "admin.sock")

    @property
    def tcp_socket(self):
        return f"127.0.0.1:{self.tcp_port}"

    @property
    def config_path(self):
        return self.workdir / "haproxy.cfg"

    @property
    def state_file(self):
        return str(self.workdir / "server-state")

    def render(self):
        if self.config:
            return self.config
        check = " check inter 1s" if self.check else ""
        lines = [
            "global",
            f"    stats socket {self.socket} mode 600 level admin",
            f"    stats socket ipv4@{self.tcp_socket} level admin",
            f"    server-state-file {self.state_file}",
            self.extra_global,
            "defaults",
            "    mode http",
            "    timeout connect 1s",
            "    timeout client 10s",
            "    timeout server 10s",
            "    load-server-state-from-file global",
            f"    default-server {self.default_server}" if self.default_server else "",
            self.extra_sections,
        ]
        for name, servers in self.backends.items():
            lines.append(f"backend {name}")
            for server, address in servers.items():
                lines.append(f"    server {server} {address}{check}")
            if self.sorry_address:
                lines.append(f"    server {self.sorry_name} {self.sorry_address} backup")
        first = next(iter(self.backends))
        lines += [
            "frontend www",
            f"    bind 127.0.0.1:{self.frontend_port}",
            f"    default_backend {first}",
            self.extra_frontend,
        ]
        return "\n".join(line for line in lines if line) + "\n"

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.render())
        # Foreground master-worker: we hold the master's PID and stop it ourselves.
        self.proc = subprocess.Popen(
            [HAPROXY, "-W", "-db", "-f", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "haproxy.log", "ab"),  # noqa: SIM115
        )
        wait_for(self._answers, START_TIMEOUT, f"haproxy admin socket {self.socket}")
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            log = (self.workdir / "haproxy.log").read_text(errors="replace")
            raise RuntimeError(f"haproxy exited with {self.proc.returncode}: {log[-2000:]}")
        if not os.path.exists(self.socket):
            return False
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(self.socket)
            sock.sendall(b"show info\n")
            return sock.recv(64).startswith(b"Name")
        return False

    def command(self, text):
        """Send one raw command the way an operator with socat would; return the answer."""
        return runtime_command(self.socket, text)

    def server_states(self):
        """``{(backend, server): (op_state, admin_state, weight)}`` from `show servers state`,
        without its clock columns, so that two snapshots compare equal when nothing changed."""
        lines = self.command("show servers state").splitlines()[2:]
        return {
            (fields[1], fields[3]): (fields[5], fields[6], fields[7])
            for fields in (line.split() for line in lines)
            if fields
        }

    def reload(self):
        """Reload the way a service manager does: USR2 to the master process; return once a
        new worker answers on the admin socket. A USR2 that reaches a master which has just
        started is lost (HAProxy 2.6 logs nothing and keeps its worker; seen about one start
        in six here), so it is sent again until a new worker answers."""
        old = self.worker_pid()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.proc.send_signal(signal.SIGUSR2)
            try:
                wait_for(
                    lambda: self.worker_pid() not in (None, old), RELOAD_RESEND, "a new worker"
                )
                return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise

    def reconfigure(self, backends):
        """Write a config with other ``backends`` (as a highstate writes haproxy.cfg); the
        running process goes on with the old one until :py:meth:`reload`."""
        self.backends = backends
        self.config_path.write_text(self.render())

    def worker_pid(self):
        """The PID of the worker that answers on the admin socket, or None."""
        try:
            answer = self.command("show info")
        except OSError:
            return None  # the socket is briefly gone while a new worker binds it
        for line in answer.splitlines():
            if line.startswith("Pid:"):
                return int(line.split(":", 1)[1])
        return None

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc)
