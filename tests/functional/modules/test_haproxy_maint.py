"""haproxy_maint through Salt's loader against a real haproxy and real app servers: the
sessions a maintenance closes, and those it leaves open; a server whose host name does not
resolve."""

import pytest
from saltfactories.utils.functional import Loaders

from harness.dns_server import DNSServer
from harness.haproxy import free_port, wait_for
from harness.sandbox import AppServer
from harness.tunnel import KeepAlive, Tunnel

BYPASS_SOURCE = "127.0.0.2"
# How long a closed tunnel may take to see its end: the acceptance bound of a maint start.
CLOSE_BOUND = 5.0


@pytest.fixture(scope="module")
def app_servers():
    servers = {name: AppServer(name).start() for name in ("app1", "app2")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def haproxy(haproxy_factory, app_servers):
    servers = {name: server.address for name, server in app_servers.items()}
    # The product's bypass backend: the same servers under another backend, never in MAINT.
    return haproxy_factory(
        {"app": servers, "app:bypass": servers},
        sorry_address=f"127.0.0.1:{free_port()}",
        extra_frontend=f"    use_backend app:bypass if {{ src {BYPASS_SOURCE} }}",
    )


def lb_loaders(minion_opts, haproxy, tmp_path, **maintenance):
    """Salt's loaders with this LB's pillar in the minion config (config.get reads it)."""
    servers = {name: address for name, address in haproxy.backends["app"].items()}
    pillar = {
        "haproxy": {
            "runtime": {"socket": haproxy.socket},
            "config_file": str(haproxy.config_path),
            "chroot": "",
            "server_state_file": haproxy.state_file,
            "backends": {"app": {"servers": servers}},
        },
        "page": {"root": str(tmp_path / "www")},
        "maintenance": {"state_file": str(tmp_path / "desired.json"), **maintenance},
        "visitor": {
            "map_file": str(tmp_path / "visitor/maintenance.map"),
            "status_file": str(tmp_path / "visitor/status.json"),
            "status_map_file": str(tmp_path / "visitor/status.map"),
            "lua_file": str(tmp_path / "haproxy-maint.lua"),
            "bypass_file": str(tmp_path / "visitor/bypass.acl"),
        },
    }
    return Loaders(dict(minion_opts, haproxy_maint=pillar))


@pytest.fixture
def maint(minion_opts, haproxy, tmp_path):
    return lb_loaders(minion_opts, haproxy, tmp_path).modules.haproxy_maint


def tunnels(haproxy, count, source="127.0.0.1", timeout=CLOSE_BOUND):
    opened = [
        Tunnel("127.0.0.1", haproxy.frontend_port, source=source, timeout=timeout)
        for _ in range(count)
    ]
    answers = [tunnel.echo("hello") for tunnel in opened]
    assert all(answer.endswith(" hello") for answer in answers), answers
    return opened


def test_maint_closes_app_tunnels_keeps_bypass_and_keep_alive_gets_503(maint, haproxy):
    app = tunnels(haproxy, 2)  # round robin: one on each app server
    bypass = tunnels(haproxy, 1, source=BYPASS_SOURCE)[0]
    keep_alive = KeepAlive("127.0.0.1", haproxy.frontend_port)
    assert keep_alive.get()[0] == 200
    result = maint.start(ensure_sorry=False)
    assert result["changed"] == {"app": ["app1", "app2"]}
    assert result["sessions_closed"] == 2
    assert all(tunnel.closed_by_peer() for tunnel in app)
    assert bypass.echo("still there").endswith(" still there")
    assert keep_alive.get()[0] == 503, "the next request on a kept-alive connection"
    assert maint.start(ensure_sorry=False)["sessions_closed"] == 0
    for each in (*app, bypass, keep_alive):
        each.close()


def test_drain_closes_what_is_left_after_drain_timeout(maint, haproxy):
    drain_timeout = 1
    app = tunnels(haproxy, 2, timeout=drain_timeout + CLOSE_BOUND)
    result = maint.start(mode="drain", drain_timeout=drain_timeout, ensure_sorry=False)
    assert result["drain"]["drained"] is False
    assert result["drain"]["waited"] >= drain_timeout
    assert result["sessions_closed"] == 2
    assert all(tunnel.closed_by_peer() for tunnel in app)
    for tunnel in app:
        tunnel.close()


def test_a_server_without_address_is_haproxys_not_ours(
    haproxy_factory, app_servers, minion_opts, tmp_path
):
    haproxy = haproxy_factory(
        {"app": {"app1": app_servers["app1"].address, "app3": "app3.invalid:8003"}},
        sorry_address=f"127.0.0.1:{free_port()}",
        default_server="init-addr last,libc,none",
    )
    maint = lb_loaders(minion_opts, haproxy, tmp_path).modules.haproxy_maint
    app3 = maint.status()["backends"]["app"]["app3"]
    assert app3["admin_flags"] == ["RMAINT"] and app3["status"] == "MAINT (resolution)"
    assert app3["why"] == "no address: app3.invalid did not resolve"
    assert KeepAlive("127.0.0.1", haproxy.frontend_port).get()[1] == "APP app1\n"
    assert maint.start(ensure_sorry=False)["changed"] == {"app": ["app1"]}
    stopped = maint.stop(not_up_wait=0)
    assert stopped["changed"] == {"app": ["app1"]} and stopped["not_up"] == {}
    assert haproxy.server_states()[("app", "app3")][1] == "32", "RMAINT alone, as before"


CHANGES = {
    "port": lambda one, two: {"app1": f"127.0.0.1:{free_port()}", "app2": two},
    "ip": lambda one, two: {"app1": one.replace("127.0.0.1", "127.0.0.2"), "app2": two},
    "rename": lambda one, two: {"app9": one, "app2": two},
    "removal": lambda one, two: {"app2": two},
    # init-addr starts with "last": HAProxy alone would take the state file's address.
    "host name": lambda one, two: {"app1": f"app1.invalid:{one.rpartition(':')[2]}", "app2": two},
}


@pytest.fixture(params=[False, True], ids=["live", "in-maintenance"])
def maintenance(request):
    return request.param


def reloaded(haproxy_factory, minion_opts, tmp_path, *, before, after, maintenance, check=False):
    """An LB on ``before``, in maintenance or not; then what a highstate does with ``after``:
    the new haproxy.cfg, the state dumped to fit it, the reload. Returns the LB's loaders
    (of the new config) and what ``save_servers_state`` said."""
    haproxy = haproxy_factory(
        {"app": before},
        sorry_address=f"127.0.0.1:{free_port()}",
        default_server="init-addr last,libc,none",
        check=check,
    )
    loaders = lb_loaders(minion_opts, haproxy, tmp_path)
    if maintenance:
        loaders.modules.haproxy_maint.start(ensure_sorry=False)
    haproxy.reconfigure({"app": after})
    saved = loaders.modules.haproxy_runtime.save_servers_state(
        path=haproxy.state_file, socket=haproxy.socket, config_file=str(haproxy.config_path)
    )
    haproxy.reload()
    return lb_loaders(minion_opts, haproxy, tmp_path), saved


@pytest.mark.parametrize("change", ["port", "ip", "rename", "removal"])
def test_a_reload_loads_the_new_addresses_and_only_the_admin_state_survives(
    haproxy_factory, app_servers, minion_opts, tmp_path, change, maintenance
):
    before = {name: server.address for name, server in app_servers.items()}
    after = CHANGES[change](before["app1"], before["app2"])
    loaders, saved = reloaded(
        haproxy_factory, minion_opts, tmp_path, before=before, after=after, maintenance=maintenance
    )
    assert saved["dropped"] == ([] if change in ("port", "ip") else ["app/app1"])
    maint = loaders.modules.haproxy_maint
    maint.reapply()  # haproxy_maint.converged, the highstate's last state
    live = maint.status()["backends"]["app"]
    assert set(live) == {*after, "localhost"}, "a removed server does not come back"
    runtime = loaders.modules.haproxy_runtime.server_status()["app"]
    for server, address in after.items():
        assert runtime[server]["address"] == address, f"{server}: the new config's address"
        assert live[server]["admin"] == ("maint" if maintenance else "ready")
    if maintenance:
        assert maint.stop(not_up_wait=0)["changed"] == {"app": sorted(after)}
        assert {
            server: live["admin"] for server, live in maint.status()["backends"]["app"].items()
        } == dict.fromkeys({*after, "localhost"}, "ready")


def test_a_readdressed_server_is_health_checked_at_its_new_address(
    haproxy_factory, app_servers, minion_opts, tmp_path
):
    before = {name: server.address for name, server in app_servers.items()}
    after = CHANGES["port"](before["app1"], before["app2"])  # nothing listens there
    loaders, saved = reloaded(
        haproxy_factory,
        minion_opts,
        tmp_path,
        before=before,
        after=after,
        maintenance=False,
        check=True,
    )
    assert saved["readdressed"] == ["app/app1"]
    wait_for(
        lambda: loaders.modules.haproxy_runtime.server_status()["app"]["app1"]["status"] == "DOWN",
        10,
        "app1 checked, and found down, at its new port",
    )
    assert loaders.modules.haproxy_runtime.server_status()["app"]["app2"]["status"] == "UP"


def test_a_new_host_name_never_gets_the_old_address(
    haproxy_factory, app_servers, minion_opts, tmp_path, maintenance
):
    before = {name: server.address for name, server in app_servers.items()}
    after = CHANGES["host name"](before["app1"], before["app2"])
    loaders, saved = reloaded(
        haproxy_factory, minion_opts, tmp_path, before=before, after=after, maintenance=maintenance
    )
    assert saved["readdressed"] == ["app/app1"]
    app1 = loaders.modules.haproxy_runtime.server_status()["app"]["app1"]
    assert not app1["address"] and app1["fqdn"] == "app1.invalid"
    assert app1["admin_flags"] == (["FMAINT", "RMAINT"] if maintenance else ["RMAINT"])


@pytest.fixture
def dns():
    server = DNSServer().start()
    yield server
    server.stop()


def test_with_resolvers_a_name_that_starts_to_resolve_gets_its_address_without_reload(
    haproxy_factory, app_servers, minion_opts, tmp_path, dns
):
    port = app_servers["app1"].port
    haproxy = haproxy_factory(
        {"app": {"app3": f"app3.test:{port}"}},
        sorry_address=f"127.0.0.1:{free_port()}",
        # What haproxy:resolvers renders (enabled, one nameserver).
        default_server="init-addr last,libc,none resolvers dns",
        extra_sections=f"resolvers dns\n    nameserver ns1 {dns.nameserver}\n    hold valid 1s",
    )
    maint = lb_loaders(minion_opts, haproxy, tmp_path).modules.haproxy_maint
    assert maint.status()["backends"]["app"]["app3"]["why"].startswith("no address")
    pid = haproxy.worker_pid()
    dns.names["app3.test"] = "127.0.0.1"
    wait_for(
        lambda: maint.status()["backends"]["app"]["app3"]["admin_flags"] == [],
        10,
        "app3.test resolved by HAProxy's resolvers",
    )
    assert KeepAlive("127.0.0.1", haproxy.frontend_port).get()[1] == "APP app1\n"
    assert haproxy.worker_pid() == pid, "no reload"
