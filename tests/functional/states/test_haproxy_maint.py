"""haproxy_maint.converged under Salt's state loader, with and without test=True, against a
real haproxy: what a highstate does during maintenance, and outside it."""

import json

import pytest
from saltfactories.utils.functional import Loaders

from harness.haproxy import free_port

BACKENDS = {"app": {"app1": "127.0.0.1:1", "app2": "127.0.0.1:2"}}


@pytest.fixture
def haproxy(haproxy_factory):
    return haproxy_factory(BACKENDS, sorry_address=f"127.0.0.1:{free_port()}")


@pytest.fixture
def lb(minion_opts, haproxy, tmp_path):
    """Salt's loaders with this LB's pillar in the minion config (config.get reads it)."""
    record = tmp_path / "desired.json"
    opts = dict(
        minion_opts,
        haproxy_maint={
            "haproxy": {
                "runtime": {"socket": haproxy.socket},
                "config_file": str(haproxy.config_path),
                "chroot": "",
                "server_state_file": haproxy.state_file,
                "backends": {"app": {"servers": BACKENDS["app"]}},
            },
            "page": {"root": str(tmp_path / "www")},
            "maintenance": {"state_file": str(record)},
            "visitor": {
                "map_file": str(tmp_path / "visitor/maintenance.map"),
                "status_file": str(tmp_path / "visitor/status.json"),
                "status_map_file": str(tmp_path / "visitor/status.map"),
                "lua_file": str(tmp_path / "haproxy-maint.lua"),
                "paths_map_file": str(tmp_path / "visitor/paths.map"),
                "bypass_file": str(tmp_path / "visitor/bypass.acl"),
            },
        },
    )
    return Loaders(opts), record


@pytest.fixture(params=[True, False], ids=["testmode", "applied"])
def testmode(request):
    return request.param


def admin(haproxy):
    return {server: states[1] for (_b, server), states in haproxy.server_states().items()}


def test_converged_reapplies_recorded_maintenance(lb, haproxy, testmode):
    loaders, record = lb
    record.write_text(json.dumps({"active": True, "backends": ["app"], "changed": {}}))
    before = admin(haproxy)
    ret = loaders.states.haproxy_maint.converged(name="maintenance", test=testmode)
    assert ret.changes == {"maint": {"app": ["app1", "app2"]}}
    if testmode:
        assert ret.result is None
        assert admin(haproxy) == before
    else:
        assert ret.result is True
        assert admin(haproxy) == {"app1": "1", "app2": "1", "localhost": "0"}
        again = loaders.states.haproxy_maint.converged(name="maintenance")
        assert again.result is True and again.changes == {}


def test_converged_without_maintenance_touches_nothing(lb, haproxy, testmode):
    loaders, _record = lb
    haproxy.command("set server app/app2 state maint")  # an operator's, not ours
    before = admin(haproxy)
    ret = loaders.states.haproxy_maint.converged(name="maintenance", test=testmode)
    assert ret.result is True and ret.changes == {}
    assert "off" in ret.comment
    assert admin(haproxy) == before


def test_converged_fails_cleanly_when_haproxy_is_unreachable(lb, haproxy, testmode):
    loaders, record = lb
    record.write_text(json.dumps({"active": True, "backends": ["app"], "changed": {}}))
    haproxy.stop()
    ret = loaders.states.haproxy_maint.converged(name="maintenance", test=testmode)
    assert ret.result is False
    assert haproxy.socket in ret.comment
