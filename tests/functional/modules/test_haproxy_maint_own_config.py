"""haproxy_maint on an LB whose haproxy.cfg another tool renders (haproxy:manage_config false),
through Salt's loaders against real haproxy processes: the reference setup's own config, and
one shaped like haproxy-formula's output that calls the visitor macros."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from salt.exceptions import SaltInvocationError
from saltfactories.utils.functional import Loaders

from harness.haproxy import HAProxy, free_port, stop_pid, wait_for
from harness.sandbox import PAGE_MARK, AppServer, http_get, http_request, is_page

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGE_DIR = REPO / "salt/haproxy_maint/files/page"
EXAMPLES = REPO / "docs/examples/own-haproxy"
HAPROXY = "/usr/sbin/haproxy"
# Bounded waits for what HAProxy does by itself (a health check with the reference's inter
# 10s and rise 2); the tests poll, they never sleep.
BACK_UP_TIMEOUT = 45.0
START_TIMEOUT = 10.0
SERVERS = ("server01", "server02")


@pytest.fixture
def apps():
    started = [AppServer(name).start() for name in SERVERS]
    yield {app.name: app.address for app in started}
    for app in started:
        app.stop()


@pytest.fixture
def sorry_port():
    """The shipped page served on a loopback port, as the sorry server serves it."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
    command += ["--directory", str(PAGE_DIR), str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(
            lambda: http_get(f"http://127.0.0.1:{port}/")[0] == 200, START_TIMEOUT, "sorry server"
        )
        yield port
    finally:
        stop_pid(proc)


def start_haproxy(workdir, text_for):
    """A harness haproxy running ``text_for(instance)``: the config names its own socket."""
    instance = HAProxy(workdir=workdir, backends={})
    instance.config = text_for(instance)
    return instance.start()


def loaders_with(minion_opts, tmp_path, pillar):
    """Salt's loaders with ``pillar`` as the LB's pillar (a pillar tree under tmp_path)."""
    pillar_dir = tmp_path / "pillar"
    pillar_dir.mkdir()
    (pillar_dir / "top.sls").write_text("base:\n  '*':\n    - lb\n")
    (pillar_dir / "lb.sls").write_text(yaml.safe_dump(pillar))
    return Loaders(dict(minion_opts, pillar_roots={"base": [str(pillar_dir)]}))


def render(loaders, path, **context):
    """The Jinja template at ``path`` rendered by Salt, as a state's ``template: jinja``."""
    return loaders.modules.file.apply_template_on_contents(
        contents=Path(path).read_text(),
        template="jinja",
        context=context,
        defaults={},
        saltenv="base",
    )


def loaders_for(minion_opts, tmp_path, haproxy, sorry_port):
    """Salt's loaders with this LB's pillar: manage_config false, every path under tmp_path."""
    pillar = {
        "haproxy_maint": {
            "haproxy": {
                "manage_config": False,
                "config_file": str(haproxy.config_path),
                "chroot": "",
                "server_state_file": haproxy.state_file,
                "errors_dir": str(tmp_path / "errors"),
                "runtime": {"socket": haproxy.socket},
            },
            "page": {"root": str(tmp_path / "www")},
            "sorry_server": {"port": sorry_port},
            "maintenance": {"state_file": str(tmp_path / "desired.json"), "not_up_wait": 0},
            "visitor": {
                "map_file": str(tmp_path / "visitor/maintenance.map"),
                "status_file": str(tmp_path / "visitor/status.json"),
                "status_map_file": str(tmp_path / "visitor/status.map"),
                "lua_file": str(tmp_path / "haproxy-maint.lua"),
                "bypass_file": str(tmp_path / "visitor/bypass.acl"),
                "bypass": {"secret_file": str(tmp_path / "visitor/secret.acl")},
            },
        }
    }
    return loaders_with(minion_opts, tmp_path, pillar)


def admin(haproxy, backend="https-in"):
    """``{server: admin state}`` of ``backend`` (0 ready, 1 forced MAINT), from ``show servers
    state``."""
    return {
        server: states[1]
        for (name, server), states in haproxy.server_states().items()
        if name == backend
    }


def serves_app(url):
    status, body = http_get(url)
    return status == 200 and body.startswith("APP ")


# --- the reference setup's own config ---------------------------------------------------


@pytest.fixture
def reference(tmp_path, apps, sorry_port):
    listen_port = free_port()

    def text(instance):
        return (
            (FIXTURES / "reference.cfg")
            .read_text()
            .format(socket=instance.socket, listen_port=listen_port, sorry_port=sorry_port, **apps)
        )

    haproxy = start_haproxy(tmp_path / "haproxy", text)
    yield haproxy, f"http://127.0.0.1:{listen_port}/"
    haproxy.stop()


@pytest.fixture
def reference_lb(minion_opts, tmp_path, reference, sorry_port):
    haproxy, url = reference
    return loaders_for(minion_opts, tmp_path, haproxy, sorry_port), haproxy, url


def test_start_serves_the_page_status_lists_it_stop_brings_the_app_back(reference_lb):
    loaders, haproxy, url = reference_lb
    maint = loaders.modules.haproxy_maint
    assert serves_app(url)
    result = maint.start(reason="Upgrade")
    assert result["changed"] == {"https-in": list(SERVERS)}
    assert admin(haproxy) == {"server01": "1", "server02": "1", "localhost": "0"}
    status, body = http_get(url)
    # No visitor block in this config: the page as the sorry server answers it.
    assert status == 200 and PAGE_MARK in body
    report = maint.status()
    assert report["maintenance"] is True and report["backends_in_maintenance"] == ["https-in"]
    assert {name: info["admin"] for name, info in report["backends"]["https-in"].items()} == {
        "server01": "maint",
        "server02": "maint",
        "localhost": "ready",
    }
    assert maint.stop()["changed"] == {"https-in": list(SERVERS)}
    assert admin(haproxy) == {"server01": "0", "server02": "0", "localhost": "0"}
    wait_for(lambda: serves_app(url), BACK_UP_TIMEOUT, "the app back behind HAProxy")


def test_after_a_reload_the_highstate_state_brings_maintenance_back(reference_lb):
    loaders, haproxy, url = reference_lb
    loaders.modules.haproxy_maint.start()
    haproxy.reload()  # returns once the new worker answers
    # This config has no server-state-file: the new worker starts with every server READY.
    assert admin(haproxy)["server01"] == "0"
    ret = loaders.states.haproxy_maint.converged(name="maintenance")
    assert ret.result is True and ret.changes == {"maint": {"https-in": list(SERVERS)}}
    assert admin(haproxy) == {"server01": "1", "server02": "1", "localhost": "0"}
    assert PAGE_MARK in http_get(url)[1]


def test_drain_mode_ends_in_maint_on_the_reference_config(reference_lb):
    loaders, haproxy, url = reference_lb
    result = loaders.modules.haproxy_maint.start(mode="drain", drain_timeout=0)
    assert result["changed"] == {"https-in": list(SERVERS)} and "drain" in result
    assert admin(haproxy) == {"server01": "1", "server02": "1", "localhost": "0"}
    assert PAGE_MARK in http_get(url)[1]


def test_check_config_names_what_the_reference_lacks_and_its_cost(reference_lb):
    loaders, haproxy, _url = reference_lb
    report = loaders.modules.haproxy_maint.check_config()
    parts = report["parts"]
    assert report["complete"] is False and report["manage_config"] is False
    assert parts["sorry_backup"]["present"] is True
    assert parts["sorry_backup"]["backends"] == ["https-in"]
    assert parts["admin_socket"] == {"present": True, "level": "admin"}
    assert parts["state_file"]["present"] is False
    assert f"global: server-state-file {haproxy.state_file}" in parts["state_file"]["add"]
    assert "reload" in parts["state_file"]["cost"]
    assert parts["visitor"]["present"] is False and "bypass" in parts["visitor"]["cost"]


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"backends": ["shop"]}, "unknown backend 'shop': the running HAProxy has https-in"),
        ({"bypass": ["127.0.0.2/32"]}, "bypass needs the visitor block"),
    ],
)
def test_what_the_running_config_cannot_honour_is_refused(reference_lb, tmp_path, kwargs, why):
    loaders, haproxy, url = reference_lb
    before = admin(haproxy)
    with pytest.raises(SaltInvocationError) as err:
        loaders.modules.haproxy_maint.start(**kwargs)
    assert why in str(err.value)
    assert admin(haproxy) == before and not (tmp_path / "desired.json").exists()
    assert serves_app(url)


def test_a_config_without_the_sorry_backup_refuses_start(minion_opts, tmp_path, reference):
    haproxy, url = reference
    # The pillar's sorry server listens elsewhere than the config's backup server.
    loaders = loaders_for(minion_opts, tmp_path, haproxy, free_port())
    with pytest.raises(SaltInvocationError) as err:
        loaders.modules.haproxy_maint.start()
    assert "no backend of the running HAProxy has a backup server at" in str(err.value)
    assert admin(haproxy) == {"server01": "0", "server02": "0", "localhost": "0"}
    assert serves_app(url)


# --- a config shaped like haproxy-formula's output, with the visitor macros -------------


@pytest.fixture
def formula_lb(minion_opts, tmp_path, apps, sorry_port):
    listen_port = free_port()
    haproxy = HAProxy(workdir=tmp_path / "haproxy", backends={})
    loaders = loaders_for(minion_opts, tmp_path, haproxy, sorry_port)
    # What the highstate applies with manage_config false: the visitor's files, 503 page.
    applied = loaders.modules.state.sls("haproxy_maint.visitor")
    assert not applied.failed, applied.raw
    haproxy.config = render(
        loaders,
        FIXTURES / "haproxy-formula.cfg.jinja",
        socket=haproxy.socket,
        state_file=haproxy.state_file,
        listen_port=listen_port,
        sorry_port=sorry_port,
        **apps,
    )
    haproxy.start()
    yield loaders, haproxy, f"http://127.0.0.1:{listen_port}/"
    haproxy.stop()


def test_the_formula_config_with_the_macros_passes_haproxy_check(formula_lb):
    _loaders, haproxy, _url = formula_lb
    check = subprocess.run(
        [HAPROXY, "-c", "-f", str(haproxy.config_path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    warnings = [line for line in check.stderr.splitlines() if "[WARNING]" in line]
    # Only the state file, which haproxy_maint writes at the first start or stop.
    assert all("server state file" in line for line in warnings), warnings
    assert "backend www:bypass" in haproxy.config_path.read_text()


def test_the_formula_config_has_every_part_and_maintenance_outlives_a_reload(formula_lb):
    loaders, haproxy, url = formula_lb
    maint = loaders.modules.haproxy_maint
    assert loaders.modules.haproxy_maint.check_config()["complete"] is True
    result = maint.start(bypass=["127.0.0.2/32"])
    assert result["changed"] == {"www": list(SERVERS)} and result["visitor"] == "applied"
    status, _headers, body = http_request(url)
    assert is_page(status, body)
    assert http_request(url, source="127.0.0.2")[2].startswith("APP ")
    # Another tool reloads HAProxy: the state file and the visitor files keep it all.
    haproxy.reload()  # returns once the new worker answers
    assert admin(haproxy, "www") == {"server01": "1", "server02": "1", "localhost": "0"}
    assert admin(haproxy, "www:bypass") == {"server01": "0", "server02": "0", "localhost": "0"}
    assert is_page(*http_request(url)[::2])
    assert maint.stop()["changed"] == {"www": list(SERVERS)}
    wait_for(lambda: serves_app(url), BACK_UP_TIMEOUT, "the app back behind HAProxy")


def test_the_docs_example_is_what_its_template_renders(minion_opts, tmp_path):
    """With the defaults, the shipped page in page:root (here a copy, named /var/www in the
    example)."""
    www = tmp_path / "www"
    shutil.copytree(PAGE_DIR, www)
    pillar = {"haproxy_maint": {"haproxy": {"manage_config": False}, "page": {"root": str(www)}}}
    loaders = loaders_with(minion_opts, tmp_path, pillar)
    rendered = render(loaders, EXAMPLES / "haproxy.cfg.jinja").replace(str(www), "/var/www")
    if os.environ.get("REGENERATE_EXAMPLES"):  # after a change of the macros or the page
        (EXAMPLES / "haproxy.cfg").write_text(rendered)
    assert rendered == (EXAMPLES / "haproxy.cfg").read_text()
    assert "server localhost 127.0.0.1:8080 maxconn 500 backup\n" in rendered
    assert "use_backend www:bypass if maint_on maint_bypass" in rendered
