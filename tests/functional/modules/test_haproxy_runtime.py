"""haproxy_runtime through Salt's loader against a real haproxy on loopback."""

from pathlib import Path

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError
from saltfactories.utils.functional import Loaders

from harness.haproxy import free_port

BACKENDS = {
    "app": {"app1": "127.0.0.1:1", "app2": "127.0.0.1:2"},
    "api": {"api1": "127.0.0.1:3"},
}


@pytest.fixture
def haproxy(haproxy_factory):
    return haproxy_factory(BACKENDS, sorry_address=f"127.0.0.1:{free_port()}")


@pytest.fixture
def runtime(modules):
    return modules.haproxy_runtime


@pytest.fixture(params=["unix", "tcp"])
def socket(request, haproxy):
    return haproxy.socket if request.param == "unix" else haproxy.tcp_socket


def admin_states(haproxy):
    """What an operator sees with socat: parsed independently of the module under test."""
    lines = haproxy.command("show servers state").splitlines()[2:]
    return {tuple(line.split()[1:4:2]): int(line.split()[6]) for line in lines if line.strip()}


def test_show_info_is_typed(runtime, socket, haproxy):
    info = runtime.show_info(socket=socket)
    assert info["Pid"] == haproxy.proc.pid or isinstance(info["Pid"], int)
    assert info["Version"].startswith("2.")
    assert isinstance(info["Uptime_sec"], int)


def test_server_status_lists_backends_and_backup(runtime, socket):
    status = runtime.server_status(socket=socket)
    assert set(status["app"]) == {"app1", "app2", "localhost"}
    assert status["app"]["localhost"]["backup"] is True
    assert status["app"]["app1"]["backup"] is False
    assert status["app"]["app1"]["admin"] == "ready"
    assert status["api"]["api1"]["address"] == "127.0.0.1:3"


def test_show_stat_filters_by_backend_and_server(runtime, socket):
    rows = runtime.show_stat(backend="api", socket=socket)
    assert {row["pxname"] for row in rows} == {"api"}
    assert {row["svname"] for row in rows} == {"api1", "localhost", "BACKEND"}
    (row,) = runtime.show_stat(backend="app", server="app2", socket=socket)
    assert row["svname"] == "app2" and isinstance(row["scur"], int)
    with pytest.raises(CommandExecutionError):
        runtime.show_stat(backend="nope", socket=socket)


def test_list_backends_separates_backup(runtime, socket):
    backends = runtime.list_backends(socket=socket)
    assert backends["app"] == {"servers": ["app1", "app2"], "backup": ["localhost"]}
    assert "www" not in backends, "a frontend is not a backend"


def test_set_servers_state_all_then_back(runtime, socket, haproxy):
    assert runtime.set_servers_state("app", "maint", socket=socket) == ["app1", "app2"]
    states = admin_states(haproxy)
    assert states[("app", "app1")] & 1 and states[("app", "app2")] & 1
    assert states[("app", "localhost")] == 0, "the backup server must be left alone"
    assert states[("api", "api1")] == 0
    runtime.set_servers_state("app", "ready", socket=socket)
    assert admin_states(haproxy)[("app", "app1")] == 0


def test_drain_then_maint_then_ready(runtime, socket):
    runtime.set_server_state("app", "app1", "drain", socket=socket)
    assert runtime.server_status("app", socket=socket)["app"]["app1"]["admin"] == "drain"
    runtime.set_server_state("app", "app1", "maint", socket=socket)
    assert runtime.server_status("app", socket=socket)["app"]["app1"]["admin"] == "maint"
    runtime.set_server_state("app", "app1", "ready", socket=socket)
    assert runtime.server_status("app", socket=socket)["app"]["app1"]["admin"] == "ready"


def test_batch_many_commands_one_connection(runtime, socket):
    commands = [f"set server app/app1 state {('maint', 'ready')[i % 2]}" for i in range(501)]
    commands.append("show servers state app")
    answers = runtime.batch(commands, socket=socket)
    assert len(answers) == len(commands)
    assert set(answers[:-1]) == {""}
    assert answers[-1].startswith("1\n# be_id")
    assert runtime.server_status("app", socket=socket)["app"]["app1"]["admin"] == "maint"


def test_set_states_across_backends_in_one_batch(runtime, socket):
    runtime.set_states(
        [
            {"backend": "app", "server": "app2", "state": "maint"},
            {"backend": "api", "server": "api1", "state": "drain"},
        ],
        socket=socket,
    )
    status = runtime.server_status(socket=socket)
    assert status["app"]["app2"]["admin"] == "maint"
    assert status["api"]["api1"]["admin"] == "drain"
    assert status["app"]["app1"]["admin"] == "ready"


@pytest.mark.parametrize(
    ("backend", "server"),
    [("nope", "app1"), ("app", "nope")],
    ids=["unknown-backend", "unknown-server"],
)
def test_haproxy_error_answers_raise(runtime, socket, backend, server):
    with pytest.raises(CommandExecutionError) as err:
        runtime.set_server_state(backend, server, "maint", socket=socket)
    assert f"{backend}/{server}" in str(err.value)


def test_partial_batch_failure_raises_and_says_what_applied(runtime, socket):
    with pytest.raises(CommandExecutionError) as err:
        runtime.set_states(
            [
                {"backend": "app", "server": "app1", "state": "maint"},
                {"backend": "app", "server": "ghost", "state": "maint"},
            ],
            socket=socket,
        )
    assert "app/ghost" in str(err.value) and "1 applied" in str(err.value)


def test_set_servers_state_refuses_unknown_before_sending(runtime, socket, haproxy):
    before = admin_states(haproxy)
    with pytest.raises(CommandExecutionError):
        runtime.set_servers_state("app", "maint", servers=["app1", "ghost"], socket=socket)
    assert admin_states(haproxy) == before


@pytest.mark.parametrize(
    "hostile",
    [
        "app1; set server app/app2 state maint",
        "app1\nset server app/app2 state maint",
        "app1\rset server app/app2 state maint",
        "app1 app2",
        "",
        "a" * 101,
        "app1/../x",
    ],
)
def test_hostile_names_cannot_inject(runtime, socket, haproxy, hostile):
    before = haproxy.server_states()
    with pytest.raises(SaltInvocationError):
        runtime.set_server_state("app", hostile, "maint", socket=socket)
    with pytest.raises(SaltInvocationError):
        runtime.set_server_state(hostile, "app1", "maint", socket=socket)
    if any(separator in hostile for separator in ";\r\n"):
        with pytest.raises(SaltInvocationError):
            runtime.batch([f"set server app/{hostile} state maint"], socket=socket)
    assert haproxy.server_states() == before


def test_weight_and_shutdown_sessions(runtime, socket):
    runtime.set_weight("app", "app1", 7, socket=socket)
    assert runtime.server_status("app", socket=socket)["app"]["app1"]["weight"] == 7
    runtime.set_weight("app", "app1", "50%", socket=socket)
    assert runtime.shutdown_sessions("app", "app1", socket=socket) is True
    with pytest.raises(SaltInvocationError):
        runtime.set_weight("app", "app1", 300, socket=socket)
    with pytest.raises(CommandExecutionError):
        runtime.shutdown_sessions("app", "ghost", socket=socket)


def test_wait_drained_returns_at_once_when_idle(runtime, socket):
    result = runtime.wait_drained("app", drain_timeout=5, socket=socket)
    assert result["drained"] is True and result["sessions"] == {}
    assert result["waited"] < 5


def test_save_servers_state_is_what_haproxy_reloads(runtime, haproxy, tmp_path):
    runtime.set_server_state("app", "app2", "maint", socket=haproxy.socket)
    saved = runtime.save_servers_state(path=haproxy.state_file, socket=haproxy.socket)
    assert saved == {"path": haproxy.state_file, "servers": 5}
    text = Path(haproxy.state_file).read_text()
    assert text.startswith("1\n") and text.endswith("\n")
    old_pid = runtime.show_info(socket=haproxy.socket)["Pid"]
    haproxy.reload()  # returns once the new worker answers
    assert runtime.show_info(socket=haproxy.socket)["Pid"] != old_pid
    assert runtime.server_status("app", socket=haproxy.socket)["app"]["app2"]["admin"] == "maint"


@pytest.mark.parametrize(
    ("socket", "fragment"),
    [
        ("/nonexistent/admin.sock", "does not exist"),
        ("127.0.0.1:1", "127.0.0.1:1"),
    ],
)
def test_unreachable_socket_names_it(runtime, socket, fragment):
    with pytest.raises(CommandExecutionError) as err:
        runtime.show_info(socket=socket)
    assert fragment in str(err.value)


def test_permission_denied_on_user_level_socket(runtime, haproxy_factory):
    port = free_port()
    user_level = haproxy_factory(
        {"app": {"app1": "127.0.0.1:1"}},
        extra_global=f"    stats socket ipv4@127.0.0.1:{port} level user",
    )
    with pytest.raises(CommandExecutionError) as err:
        runtime.set_server_state("app", "app1", "maint", socket=f"127.0.0.1:{port}")
    assert "Permission denied" in str(err.value)
    assert runtime.server_status(socket=user_level.socket)["app"]["app1"]["admin"] == "ready"


def test_default_socket_comes_from_config(minion_opts, haproxy):
    opts = dict(minion_opts, haproxy_maint={"haproxy": {"runtime": {"socket": haproxy.socket}}})
    runtime = Loaders(opts).modules.haproxy_runtime
    assert runtime.show_info()["Version"].startswith("2.")


# --- ACLs and maps loaded from files (issue 9) ----------------------------------------------


@pytest.fixture
def patterned(haproxy_factory, tmp_path):
    """An haproxy whose frontend loads a map and an ACL from files, as the LB config does."""
    map_file, acl_file = tmp_path / "maintenance.map", tmp_path / "bypass.acl"
    map_file.write_text("app 0\n")
    acl_file.write_text("")
    extra = (
        f"    acl on str(app),map_str_int({map_file},-1) -m int ge 0\n"
        f"    acl team src -f {acl_file}\n"
        "    http-request deny if on team"
    )
    instance = haproxy_factory(BACKENDS, extra_frontend=extra)
    return instance, str(map_file), str(acl_file)


def test_replace_map_and_acl_change_what_haproxy_holds(runtime, patterned):
    haproxy, map_file, acl_file = patterned
    assert {entry["file"] for entry in runtime.list_maps(socket=haproxy.socket)} == {map_file}
    assert runtime.show_map(map_file, socket=haproxy.socket) == {"app": "0"}

    runtime.replace_map(map_file, {"app": "1795730400", "api": 0}, socket=haproxy.socket)
    runtime.replace_acl(acl_file, ["127.0.0.2/32", "::1/128"], socket=haproxy.socket)
    # Read back with socat's eyes, independent of the module's parser.
    assert sorted(
        line.split()[1:] for line in haproxy.command(f"show map {map_file}").split("\n") if line
    ) == [
        ["api", "0"],
        ["app", "1795730400"],
    ]
    assert runtime.show_acl(acl_file, socket=haproxy.socket) == ["127.0.0.2/32", "::1/128"]

    runtime.replace_acl(acl_file, [], socket=haproxy.socket)
    assert haproxy.command(f"show acl {acl_file}").strip() == ""


def test_unknown_map_file_raises(runtime, patterned):
    haproxy, _map_file, _acl_file = patterned
    with pytest.raises(CommandExecutionError):
        runtime.replace_map("/nonexistent/maintenance.map", {"app": 0}, socket=haproxy.socket)
    with pytest.raises(CommandExecutionError):
        runtime.show_acl("/nonexistent/bypass.acl", socket=haproxy.socket)
