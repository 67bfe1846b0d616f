"""Sandboxed LBs on one machine: each with its own supervisord, haproxy, sorry server, ports.

Used by the integration tests, the demo and the benchmarks. Salt daemons are not started
here (the tests use salt-factories; the demo and benchmarks their own launcher): this module
gives each LB its directory, its supervisord and the pillar that points every path and port
of the state tree into that directory.
"""

import contextlib
import hashlib
import http.client
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from harness import REPO
from harness.haproxy import free_port, stop_pid, wait_for

SUPERVISORD = "/usr/bin/supervisord"
ENV = "test"
HTTP_TIMEOUT = 2.0
# The shipped page's heading: what tells the maintenance page from any other answer.
PAGE_MARK = "doing some maintenance"
START_TIMEOUT = 15.0
# Health checks short enough that a test does not wait long (sandbox only).
FAST_CHECKS = {"inter": "500ms", "downinter": "500ms", "rise": 1, "fall": 1, "slowstart": "0s"}
# The sandboxes' bypass secret (visitor:bypass:secret): the team's cookie or header value.
BYPASS_SECRET = "sandbox-bypass-secret-0123456789"
# HAProxy's chroot (defaults.yaml): its Lua task reads the page's status document inside it,
# as the haproxy user (pytest's temp dirs are private to root), so each sandbox keeps that
# one file there, in a folder of its own removed at stop (and all of them after the tests).
CHROOT_STATUS_DIRS = Path("/var/lib/haproxy/haproxy-maint-tests")


def status_dir(key):
    """The folder of a sandbox's status document (``visitor:status_file``), one per ``key``
    (the sandbox's own folder)."""
    return CHROOT_STATUS_DIRS / hashlib.sha256(str(key).encode()).hexdigest()[:16]


SUPERVISORD_CONF = """\
[unix_http_server]
file={dir}/supervisor.sock
chmod=0700

[supervisord]
logfile={dir}/supervisord.log
pidfile={dir}/supervisord.pid
childlogdir={dir}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{dir}/supervisor.sock

[include]
files = {dir}/conf.d/*.conf
"""


@dataclass
class AppServer:
    """One app server process (harness/app_server.py) on a loopback port."""

    name: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "harness/app_server.py"),
                "--name",
                self.name,
                "--port",
                str(self.port),
            ]
        )
        wait_for(lambda: http_get(f"http://{self.address}/")[0] == 200, START_TIMEOUT, self.name)
        return self

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc)
            self.proc = None


@dataclass
class SandboxLB:
    """One LB's directory, ports and supervisord; ``pillar()`` points the state tree at them."""

    minion_id: str
    root: Path
    backends: dict  # {backend: {server: "host:port"}}
    env: str = ENV
    ports: dict = field(default_factory=dict)
    supervisord: subprocess.Popen = None

    def __post_init__(self):
        self.dir = self.root / self.minion_id
        for backend in self.backends:
            self.ports.setdefault(f"{backend}_http", free_port())
            self.ports.setdefault(f"{backend}_https", free_port())
        self.ports.setdefault("sorry", free_port())
        self.ports.setdefault("runtime_tcp", free_port())

    @property
    def socket(self):
        return str(self.dir / "admin.sock")

    @property
    def status_dir(self):
        return status_dir(self.dir)

    @property
    def supervisor_conf(self):
        return str(self.dir / "supervisord.conf")

    def url(self, backend, path="/", https=False):
        scheme, key = ("https", f"{backend}_https") if https else ("http", f"{backend}_http")
        return f"{scheme}://127.0.0.1:{self.ports[key]}{path}"

    def pillar(self):
        d = self.dir
        return {
            "haproxy_maint": {
                "env": self.env,
                "haproxy": {
                    "config_file": f"{d}/haproxy.cfg",
                    "errors_dir": f"{d}/errors",
                    "server_state_file": f"{d}/server-state",
                    "service": {"manager": "supervisord"},
                    "runtime": {
                        "socket": self.socket,
                        "tcp": f"127.0.0.1:{self.ports['runtime_tcp']}",
                        "timeout": 5,
                    },
                    "default_server": dict(FAST_CHECKS),
                    "timeouts": {"connect": "1s", "check": "1s"},
                    "backends": {
                        backend: {
                            "bind": {
                                "http": f"127.0.0.1:{self.ports[backend + '_http']}",
                                "https": f"127.0.0.1:{self.ports[backend + '_https']}",
                            },
                            "servers": servers,
                        }
                        for backend, servers in self.backends.items()
                    },
                },
                "tls": {"cert_file": f"{d}/certs/site.pem"},
                "page": {"root": f"{d}/www"},
                "sorry_server": {
                    "port": self.ports["sorry"],
                    "log_file": f"{d}/http-server.log",
                    # pytest's temp dirs are private to root: www-data could not read the page.
                    "user": "root",
                },
                "supervisor": {
                    "manage_service": False,
                    "conf_file": self.supervisor_conf,
                    "programs_dir": f"{d}/conf.d",
                },
                # A restored server not UP is reported after 5 s (the masters of the tests
                # wait timeout + their not_up_wait of 5 s for it).
                "maintenance": {
                    "state_file": f"{d}/desired.json",
                    "drain_timeout": 10,
                    "not_up_wait": 5,
                },
                "visitor": {
                    "poll_interval": 2,
                    "status_file": f"{self.status_dir}/status.json",
                    "status_map_file": f"{d}/visitor/status.map",
                    "lua_file": f"{d}/haproxy-maint.lua",
                    "map_file": f"{d}/visitor/maintenance.map",
                    "paths_map_file": f"{d}/visitor/paths.map",
                    "bypass_file": f"{d}/visitor/bypass.acl",
                    "bypass": {"secret": BYPASS_SECRET, "secret_file": f"{d}/visitor/secret.acl"},
                },
            }
        }

    def start_supervisord(self):
        (self.dir / "conf.d").mkdir(parents=True, exist_ok=True)
        Path(self.supervisor_conf).write_text(SUPERVISORD_CONF.format(dir=self.dir))
        self.supervisord = subprocess.Popen(
            [SUPERVISORD, "-c", self.supervisor_conf],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(
            lambda: (self.dir / "supervisor.sock").exists(), START_TIMEOUT, "supervisord socket"
        )
        return self

    def supervisorctl(self, *args):
        return subprocess.run(
            ["supervisorctl", "-c", self.supervisor_conf, *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def stop(self):
        if self.supervisord is not None:
            stop_pid(self.supervisord, timeout=20)
            self.supervisord = None
        shutil.rmtree(self.status_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # the last sandbox takes the folder of them all
            CHROOT_STATUS_DIRS.rmdir()


def _insecure_tls():
    """One client TLS context for the sandboxes' self-signed certificates (building one per
    request loads the CA bundle each time, and costs more than the request)."""
    global _TLS_CONTEXT
    if _TLS_CONTEXT is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _TLS_CONTEXT = context
    return _TLS_CONTEXT


_TLS_CONTEXT = None


def http_get(url, timeout=HTTP_TIMEOUT):
    """Return ``(status, body)``; ``(0, error)`` when no HTTP answer came at all."""
    context = _insecure_tls() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (OSError, ValueError) as err:
        return 0, str(err)


def http_request(url, method="GET", headers=None, body=None, source="127.0.0.1"):
    """Return ``(status, {lower-case header: value}, body)`` of one request from the loopback
    address ``source``; ``(0, {}, error)`` when no HTTP answer came at all."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https":
        conn = http.client.HTTPSConnection(
            parsed.hostname,
            parsed.port,
            timeout=HTTP_TIMEOUT,
            context=_insecure_tls(),
            source_address=(source, 0),
        )
    else:
        conn = http.client.HTTPConnection(
            parsed.hostname, parsed.port, timeout=HTTP_TIMEOUT, source_address=(source, 0)
        )
    target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    try:
        conn.request(method, target or "/", body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read().decode(errors="replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    except OSError as err:
        return 0, {}, str(err)
    finally:
        conn.close()


def is_page(status, body):
    """The maintenance page as every visitor must get it: a 503 with the page."""
    return status == 503 and PAGE_MARK in body


def serves_page(lb, backend):
    return is_page(*http_get(lb.url(backend)))


def serves_app(lb, backend):
    status, body = http_get(lb.url(backend))
    return status == 200 and body.startswith("APP ")
