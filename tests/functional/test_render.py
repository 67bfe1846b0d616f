"""haproxy.cfg rendered through Salt for every environment passes ``haproxy -c``; a broken
pillar fails with its key named and leaves the old config in place."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from harness.converge import salt_call, write_minion_config
from harness.sandbox import status_dir

ENVIRONMENTS = ("prod", "staging", "dev")
CONFIG_SLS = "haproxy_maint.haproxy.config"
HAPROXY = "/usr/sbin/haproxy"


def sandbox_pillar(tmp_path):
    """Every file the config SLS writes goes under ``tmp_path``; a self-signed certificate."""
    return {
        "haproxy_maint": {
            "haproxy": {
                "config_file": str(tmp_path / "etc/haproxy.cfg"),
                "chroot": "",
                "errors_dir": str(tmp_path / "errors"),
                "server_state_file": str(tmp_path / "state/server-state"),
                "runtime": {"socket": str(tmp_path / "run/admin.sock")},
            },
            "tls": {"pem_source": "", "cert_file": str(tmp_path / "certs/site.pem")},
            "page": {"root": str(tmp_path / "www"), "user": "root", "group": "root"},
            "visitor": {
                "map_file": str(tmp_path / "visitor/maintenance.map"),
                "status_file": str(status_dir(tmp_path) / "status.json"),
                "status_map_file": str(tmp_path / "visitor/status.map"),
                "lua_file": str(tmp_path / "haproxy-maint.lua"),
                "paths_map_file": str(tmp_path / "visitor/paths.map"),
                "bypass_file": str(tmp_path / "visitor/bypass.acl"),
                "bypass": {"secret_file": str(tmp_path / "visitor/bypass-secret.acl")},
            },
        }
    }


def with_override(pillar, **haproxy):
    """``pillar`` with keys under ``haproxy_maint:haproxy`` replaced."""
    return {
        "haproxy_maint": {
            **pillar["haproxy_maint"],
            "haproxy": {**pillar["haproxy_maint"]["haproxy"], **haproxy},
        }
    }


def apply_config(tmp_path, env, pillar):
    config_dir = write_minion_config(tmp_path / "salt", f"lb-{env}-1")
    return salt_call(config_dir, "state.sls", CONFIG_SLS, pillar=pillar)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Apply the config SLS once per environment; {env: (tmp dir, exit code, result)}."""
    runs = {}
    for env in ENVIRONMENTS:
        tmp_path = tmp_path_factory.mktemp(env)
        runs[env] = (tmp_path, *apply_config(tmp_path, env, sandbox_pillar(tmp_path)))
    return runs


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_config_passes_haproxy_check(rendered, env):
    tmp_path, code, result = rendered[env]
    assert code == 0, result
    config = tmp_path / "etc/haproxy.cfg"
    # The state file as the states dump it before a reload (its absence is a warning).
    (tmp_path / "state/server-state").write_text("1\n")
    check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # No warning either (one was: an http-request rule placed after a use-server rule).
    assert "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr
    text = config.read_text()
    assert "load-server-state-from-file global" in text
    assert f"server-state-file {tmp_path}/state/server-state" in text
    assert f"errorfile 503 {tmp_path}/errors/503.http" in text
    assert "server localhost 127.0.0.1:8080 maxconn 500 backup check" in text
    assert "level admin" in text


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_haproxy_check_prints_no_warning(rendered, env):
    tmp_path = rendered[env][0]
    # The state file exists on an LB that ran once (haproxy_maint dumps it before reloads).
    (tmp_path / "state/server-state").write_text("1\n")
    check = subprocess.run(
        [HAPROXY, "-c", "-f", str(tmp_path / "etc/haproxy.cfg")], capture_output=True, text=True
    )
    assert check.returncode == 0
    assert "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr


def test_the_page_is_answered_from_haproxys_memory(rendered):
    """Every file of the page from memory with its digest (a new page changes the config, so
    the highstate reloads HAProxy), a buffer that holds the largest (the 27,828-byte font),
    the status document from the Lua task's map, and the sorry server marked down at its
    first refused connection."""
    tmp_path = rendered["prod"][0]
    text = (tmp_path / "etc/haproxy.cfg").read_text()
    www = tmp_path / "www"
    assert f"  lua-load {tmp_path}/haproxy-maint.lua\n  # " in text
    assert "  tune.bufsize 32768\n" in text
    routed = text.count("use-server localhost if maint_any\n")
    assert routed >= 2
    page = (
        f'http-request return status 503 content-type "text/html; charset=utf-8" file '
        f"{www}/index.html hdr Retry-After %[var(txn.maint_retry)] hdr Cache-Control no-store "
        "if maint_page !maint_prefix !maint_json\n"
    )
    assert text.count(page) == routed
    status = f"%[str(status),map({tmp_path}/visitor/status.map)]"
    assert text.count(f'content-type application/json lf-string "{status}"') == 2 * routed
    for path in ("css/maintenance.css", "font/dejavu-sans.woff", "img/maintenance.svg"):
        file = www / path
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        assert text.count(f"  # {path}: {file.stat().st_size} bytes, sha256 {digest}\n") == routed
        assert text.count(f" file {file} hdr Cache-Control max-age=60 ") == routed
    assert 'content-type "font/woff" file' in text
    assert "maintenance.json hdr" not in text, "the status document comes from the map"
    assert "cache" not in text.replace("nocache", "")
    assert (
        "maxconn 500 backup check maxqueue 0 observe layer4 error-limit 1 on-error mark-down"
        in text
    )
    lua = (tmp_path / "haproxy-maint.lua").read_text()
    assert f'local STATUS_MAP = "{tmp_path}/visitor/status.map"' in lua
    status_file = status_dir(tmp_path) / "status.json"
    assert f'local PATHS = {{ "{status_file}", "{status_file}" }}' in lua


def test_prod_has_reference_default_server(rendered):
    text = (rendered["prod"][0] / "etc/haproxy.cfg").read_text()
    assert (
        "default-server inter 10s downinter 5s rise 2 fall 2 slowstart 60s maxconn 250 "
        "maxqueue 256 weight 100 error-limit 1 on-error mark-down"
    ) in text
    assert "server web1 10.0.10.11:8080 check observe layer7" in text


def test_prod_is_one_frontend_routing_by_host_and_path(rendered):
    text = (rendered["prod"][0] / "etc/haproxy.cfg").read_text()
    assert text.count("\nfrontend ") == 1 and "\nfrontend www\n" in text
    assert "  http-request redirect scheme https code 301 unless { ssl_fc }\n" in text
    assert "use_backend api if { req.hdr(host),field(1,:),lower -m str api.example.com }" in text
    assert (
        "use_backend static if { req.hdr(host),field(1,:),lower -m str www.example.com } "
        "{ path_beg /static/ }"
    ) in text
    assert "  default_backend shop\n" in text
    assert "  http-check send meth GET uri /health hdr Host www.example.com\n" in text
    assert "server web1 10.0.10.11:8080 check observe layer7 cookie web1\n" in text
    assert "  cookie SHOPSRV insert indirect nocache\n" in text


def test_dev_has_short_checks_and_loopback_binds(rendered):
    text = (rendered["dev"][0] / "etc/haproxy.cfg").read_text()
    assert "default-server inter 1s downinter 1s rise 1 fall 1 " in text
    assert "bind 127.0.0.1:80\n" in text
    assert f"bind 127.0.0.1:443 ssl crt {rendered['dev'][0]}/certs/site.pem" in text


def test_errorfile_is_a_real_page(rendered):
    page = (rendered["dev"][0] / "errors/503.http").read_text()
    head, _, body = page.partition("\n\n")
    assert head.startswith("HTTP/1.0 503 ")
    assert "<html" in body


def test_bad_pillar_names_key_and_keeps_old_config(rendered):
    tmp_path = rendered["dev"][0]
    config = tmp_path / "etc/haproxy.cfg"
    before = config.read_bytes()
    pillar = sandbox_pillar(tmp_path)
    pillar["haproxy_maint"]["haproxy"]["backends"] = {"app": {"servers": {"app1": "127.0.0.1"}}}
    code, result = apply_config(tmp_path, "dev", pillar)
    assert code != 0
    assert "haproxy_maint:haproxy:backends:app:servers:app1" in str(result)
    assert config.read_bytes() == before


def test_config_haproxy_rejects_never_replaces_old(rendered):
    """Valid pillar, but a keyword haproxy does not know: check_cmd stops the file."""
    tmp_path = rendered["dev"][0]
    config = tmp_path / "etc/haproxy.cfg"
    before = config.read_bytes()
    pillar = with_override(sandbox_pillar(tmp_path), default_server={"no-such-keyword": 1})
    code, result = apply_config(tmp_path, "dev", pillar)
    assert code != 0
    state = result["file_|-haproxy-config_|-" + str(config) + "_|-managed"]
    assert state["result"] is False
    # HAProxy's own words, not only Salt's "check_cmd execution failed".
    assert "[ALERT]" in state["comment"] and "no-such-keyword" in state["comment"]
    assert config.read_bytes() == before


def test_raw_line_haproxy_rejects_shows_its_message_and_keeps_old(rendered):
    """A raw line passes the render-time check (one line, no section) but not haproxy -c."""
    tmp_path = rendered["dev"][0]
    config = tmp_path / "etc/haproxy.cfg"
    before = config.read_bytes()
    pillar = with_override(
        sandbox_pillar(tmp_path),
        backends={
            "app": {
                "servers": {"app1": "127.0.0.1:8001"},
                "bind": {"http": "127.0.0.1:18080", "https": ""},
                "raw": ["option no-such-option"],
            }
        },
    )
    code, result = apply_config(tmp_path, "dev", pillar)
    assert code != 0
    comment = result["file_|-haproxy-config_|-" + str(config) + "_|-managed"]["comment"]
    assert "unknown option 'no-such-option'" in comment, comment
    assert config.read_bytes() == before


def test_a_host_name_that_does_not_resolve_converges_and_starts(tmp_path):
    pillar = with_override(
        sandbox_pillar(tmp_path),
        backends={
            "app": {
                "servers": {"app1": "127.0.0.1:8001", "app3": "app3.invalid:8003"},
                "bind": {"http": "127.0.0.1:18080", "https": ""},
            }
        },
    )
    code, result = apply_config(tmp_path, "dev", pillar)
    assert code == 0, result
    config = tmp_path / "etc/haproxy.cfg"
    assert "server app3 app3.invalid:8003 check" in config.read_text()
    assert "init-addr last,libc,none" in config.read_text()
    check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "could not resolve address 'app3.invalid'" in check.stdout + check.stderr


def test_backend_defaults_mean_the_same_to_the_state_tree_and_the_modules(tmp_path):
    # One reading of the pillar: with backend_defaults sorry: false the rendered config has
    # no backup server, and maintenance (the module, and the runner through the same
    # contract) acts on no backend; a backend that sets sorry: true itself keeps both.
    pillar = with_override(
        sandbox_pillar(tmp_path),
        backend_defaults={"sorry": False},
        backends={
            "app": {
                "servers": {"app1": "127.0.0.1:8001"},
                "bind": {"http": "127.0.0.1:18080", "https": ""},
            },
            "shop": {
                "sorry": True,
                "servers": {"web1": "127.0.0.1:8002"},
                "bind": {"http": "127.0.0.1:18081", "https": ""},
            },
        },
    )
    code, result = apply_config(tmp_path, "dev", pillar)
    assert code == 0, result
    config = (tmp_path / "etc/haproxy.cfg").read_text()
    app, shop = config.split("backend app", 1)[1].split("backend shop", 1)
    assert " backup" not in app and " backup" in shop
    # The module reads the same pillar from a pillar root (functions take no pillar=).
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text(json.dumps({"base": {"*": ["lb"]}}))
    (root / "lb.sls").write_text(json.dumps(pillar))
    config_dir = write_minion_config(tmp_path / "salt", "lb-dev-1")
    code, backends = salt_call(
        config_dir, f"--pillar-root={root}", "haproxy_maint.maintained_backends"
    )
    assert code == 0 and backends == ["shop"], backends


@pytest.mark.parametrize(
    ("frontend", "key"),
    [
        ({"routes": [{"backend": "app", "hots": "a.test"}]}, "frontends:www:routes:0:hots"),
        ({"default_backend": "app", "raw": ["backend evil"]}, "frontends:www:raw:0"),
    ],
)
def test_bad_frontend_names_key_and_keeps_old_config(rendered, frontend, key):
    tmp_path = rendered["dev"][0]
    config = tmp_path / "etc/haproxy.cfg"
    before = config.read_bytes()
    pillar = with_override(
        sandbox_pillar(tmp_path),
        frontends={"www": {"bind": {"http": "127.0.0.1:18080"}, **frontend}},
        backends={"app": {"servers": {"app1": "127.0.0.1:8001"}}},
    )
    code, result = apply_config(tmp_path, "dev", pillar)
    assert code != 0
    assert f"haproxy_maint:haproxy:{key}" in str(result)
    assert config.read_bytes() == before


@pytest.mark.parametrize(("limit", "refused"), [(65536, False), (2000, True)])
def test_a_page_file_over_the_memory_limit_is_refused_naming_the_key(tmp_path, limit, refused):
    """The shipped index.html is about 4 KB: held in memory under the default limit,
    refused by the highstate, with the key that raises the limit, under a 2,000-byte one."""
    pillar = sandbox_pillar(tmp_path)
    pillar["haproxy_maint"]["visitor"]["max_file_bytes"] = limit
    config_dir = write_minion_config(tmp_path / "salt", "lb-dev-1")
    code, result = salt_call(config_dir, "state.sls", "haproxy_maint.page", pillar=pillar)
    size_state = next(ret for ret in result.values() if ret["__id__"] == "maintenance-page-size")
    assert (code != 0) is refused
    assert (size_state["result"] is False) is refused
    if refused:
        assert "haproxy_maint:visitor:max_file_bytes" in size_state["comment"]
        assert "2000 bytes" in size_state["comment"]
    # Never truncated: the page is the shipped file, whole, either way.
    shipped = Path(__file__).resolve().parents[2] / "salt/haproxy_maint/files/page/index.html"
    assert (tmp_path / "www/index.html").read_bytes() == shipped.read_bytes()


def test_resolvers_render_a_section_that_haproxy_accepts_without_warning(tmp_path):
    pillar = sandbox_pillar(tmp_path)
    pillar["haproxy_maint"]["haproxy"]["resolvers"] = {
        "enabled": True,
        "nameservers": {"ns1": "127.0.0.1:5353"},
    }
    code, result = apply_config(tmp_path, "dev", pillar)
    assert code == 0, result
    config = tmp_path / "etc/haproxy.cfg"
    text = config.read_text()
    assert "resolvers dns\n  nameserver ns1 127.0.0.1:5353\n  hold valid 10s\n" in text
    assert " init-addr last,libc,none resolvers dns\n" in text
    (tmp_path / "state/server-state").write_text("1\n")  # as on an LB that ran once
    check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0
    assert "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr


def test_a_nameserver_must_be_an_ip_address(tmp_path):
    pillar = sandbox_pillar(tmp_path)
    pillar["haproxy_maint"]["haproxy"]["resolvers"] = {"nameservers": {"ns1": "dns.example:53"}}
    code, result = apply_config(tmp_path, "dev", pillar)
    assert code != 0
    assert "haproxy_maint:haproxy:resolvers:nameservers:ns1" in str(result)
