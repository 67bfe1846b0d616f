"""An LB whose haproxy.cfg another tool manages (haproxy_maint:haproxy:manage_config false):
app servers, the sandbox's supervisord for the sorry server, and a harness haproxy on a
config of that tool's (a template whose placeholders in braces are filled in here)."""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from harness.haproxy import HAProxy, free_port
from harness.sandbox import AppServer, SandboxLB


@dataclass
class OwnConfigLB:
    """One such LB; :py:meth:`start` it, :py:meth:`stop` it by PID."""

    minion_id: str
    root: object
    config_template: object
    app_names: tuple
    apps: list = field(default_factory=list)

    def start(self):
        self.apps = [AppServer(name).start() for name in self.app_names]
        self.sandbox = SandboxLB(self.minion_id, self.root, backends={}).start_supervisord()
        self.listen_port = free_port()
        self.haproxy = HAProxy(workdir=self.root / "haproxy", backends={})
        self.haproxy.config = self.config_template.read_text().format(
            socket=self.haproxy.socket,
            listen_port=self.listen_port,
            sorry_port=self.sandbox.ports["sorry"],
            **{app.name: app.address for app in self.apps},
        )
        self.haproxy.start()
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.listen_port}/"

    def pillar(self, **overrides):
        """The LB's pillar: manage_config false, haproxy's own files and socket, no backends
        of the product's (the running config has them), ``overrides`` over haproxy_maint."""
        pillar = self.sandbox.pillar()
        pillar["haproxy_maint"]["haproxy"].update(
            manage_config=False,
            backends={},
            config_file=str(self.haproxy.config_path),
            server_state_file=self.haproxy.state_file,
            runtime={"socket": self.haproxy.socket, "tcp": ""},
        )
        pillar["haproxy_maint"]["maintenance"]["not_up_wait"] = 0
        pillar["haproxy_maint"].update(overrides)
        return pillar

    def admin_states(self):
        """``{server: srv_admin_state}`` of the reference config's https-in (``"0"`` ready,
        ``"1"`` forced MAINT), as ``show servers state`` gives it."""
        return {
            server: states[1]
            for (backend, server), states in self.haproxy.server_states().items()
            if backend == "https-in"
        }

    def config_digest(self):
        """SHA-256 of haproxy.cfg as it is on disk: whether anything rewrote it."""
        return hashlib.sha256(Path(self.haproxy.config_path).read_bytes()).hexdigest()

    def stop(self):
        for stop in (self.haproxy.stop, self.sandbox.stop, *(app.stop for app in self.apps)):
            stop()
