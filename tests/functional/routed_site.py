"""A site as the issue-17 pillar describes it (one frontend routing by host and path to
backends with their own check and persistence), rendered by the formula on free loopback
ports under a temp dir, run by a real haproxy, maintained with masterless salt-call."""

import json

from salt.utils.dictupdate import merge

from harness.converge import salt_call, write_minion_config
from harness.haproxy import HAProxy
from tests.functional.test_render import sandbox_pillar

CONFIG_SLS = "haproxy_maint.haproxy.config"
# The sites' bypass secret (visitor:bypass:secret): the team's header value.
BYPASS_SECRET = "functional-bypass-secret-0123456789"
# Checks every 500 ms, down after one failed check.
FAST_CHECKS = {"inter": "500ms", "downinter": "500ms", "rise": 1, "fall": 1, "slowstart": "0s"}


def site_pillar(ports):
    """The issue's pillar, exactly, on free loopback ports."""
    return {
        "haproxy_maint": {
            "env": "dev",
            "haproxy": {
                "frontends": {
                    "www": {
                        "bind": {
                            "http": f"127.0.0.1:{ports['www_http']}",
                            "https": f"127.0.0.1:{ports['www_https']}",
                        },
                        "routes": [
                            {"backend": "api", "host": "api.example.test"},
                            {"backend": "shop", "path_beg": "/shop/"},
                        ],
                        "default_backend": "app",
                    }
                },
                "backends": {
                    "app": {
                        "servers": {
                            "app1": f"127.0.0.1:{ports['app1']}",
                            "app2": f"127.0.0.1:{ports['app2']}",
                        }
                    },
                    "shop": {
                        "servers": {"shop1": f"127.0.0.1:{ports['shop1']}"},
                        "check": {"path": "/health"},
                        "persistence": {"cookie": "SHOPSRV"},
                    },
                    "api": {"servers": {"api1": f"127.0.0.1:{ports['api1']}"}},
                },
            },
        }
    }


def sandbox(tmp_path, ports):
    """Every path under ``tmp_path``; the runtime socket where the harness looks for it."""
    return merge(
        sandbox_pillar(tmp_path),
        {
            "haproxy_maint": {
                "haproxy": {
                    "config_file": str(tmp_path / "haproxy.cfg"),
                    "runtime": {"socket": str(tmp_path / "admin.sock")},
                    "default_server": dict(FAST_CHECKS),
                },
                "page": {"root": str(tmp_path / "www")},
                "sorry_server": {"port": ports["sorry"]},
                "maintenance": {"state_file": str(tmp_path / "desired.json"), "not_up_wait": 0},
                "visitor": {"bypass": {"secret": BYPASS_SECRET}},
            }
        },
    )


class Site:
    """The rendered LB: a masterless minion with a pillar root, and haproxy on its config."""

    def __init__(self, tmp_path, pillar):
        self.tmp_path = tmp_path
        root = tmp_path / "pillar"
        root.mkdir(exist_ok=True)
        (root / "top.sls").write_text(json.dumps({"base": {"*": ["lb"]}}))
        (root / "lb.sls").write_text(json.dumps(pillar))
        self.pillar_root = root
        self.config_dir = write_minion_config(tmp_path / "salt", "lb-dev-1")
        self.haproxy = None

    def salt(self, *args):
        return salt_call(self.config_dir, f"--pillar-root={self.pillar_root}", *args)

    def render(self):
        code, result = self.salt("state.sls", CONFIG_SLS)
        assert code == 0, result
        # The state file HAProxy reads at start; the states write it before every reload.
        (self.tmp_path / "state").mkdir(exist_ok=True)
        (self.tmp_path / "state/server-state").write_text("1\n")
        return (self.tmp_path / "haproxy.cfg").read_text()

    def start_haproxy(self):
        text = (self.tmp_path / "haproxy.cfg").read_text()
        self.haproxy = HAProxy(workdir=self.tmp_path, backends={}, config=text).start()
        return self.haproxy

    def maint(self, action, *args):
        code, result = self.salt(f"haproxy_maint.{action}", *args)
        assert code == 0, result
        return result
