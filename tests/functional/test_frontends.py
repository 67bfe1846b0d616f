"""A site on real HAProxy: the issue-17 pillar (one frontend routing by host and path to
backends with their own check and persistence) rendered by the formula, run by haproxy, and
put into maintenance by haproxy_maint (masterless salt-call) while visitors keep cookies and
stick-table entries."""

import http.client
import json
import socket
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from salt.utils.dictupdate import merge

from harness import REPO
from harness.haproxy import free_port, wait_for
from harness.sandbox import PAGE_MARK, AppServer
from tests.functional.routed_site import BYPASS_SECRET, Site, sandbox, site_pillar
from tests.functional.test_render import HAPROXY

PAGE_DIR = REPO / "salt/haproxy_maint/files/page"

SHOP_HOST = "shop.example.test"
HTTP_TIMEOUT = 2.0
# Checks every 500 ms, down after one failure: a few intervals at most.
CHECK_TIMEOUT = 10.0
APPS = ("app1", "app2", "shop1", "api1", "sticky1", "sticky2", "sorry")


def more_pillar(ports):
    """A second frontend: the route kinds the issue's pillar lacks, stick persistence, an
    HTTP check that fails, the redirect to https."""
    return {
        "haproxy_maint": {
            "haproxy": {
                "raw": {"global": ["tune.bufsize 32768"], "defaults": ["option http-keep-alive"]},
                "frontends": {
                    "more": {
                        "bind": {
                            "http": f"127.0.0.1:{ports['more_http']}",
                            "https": f"127.0.0.1:{ports['more_https']}",
                        },
                        "redirect_https": 308,
                        "routes": [
                            {"backend": "api", "host": "*.api.example.test"},
                            {"backend": "shop", "path": "/cart"},
                            {"backend": "sticky", "host": "sticky.example.test"},
                            {"backend": "strict", "host": "strict.example.test"},
                            {"backend": "api", "host": "both.example.test", "path_beg": "/v2/"},
                            {"backend": "tuned", "host": "tuned.example.test"},
                        ],
                        "raw": ["http-response set-header X-Site more"],
                        "default_backend": "app",
                    }
                },
                "backends": {
                    "sticky": {
                        "servers": {
                            "sticky1": f"127.0.0.1:{ports['sticky1']}",
                            "sticky2": f"127.0.0.1:{ports['sticky2']}",
                        },
                        "persistence": {"stick": "src"},
                    },
                    # Every per-server option; t_ssl reaches frontend www over TLS, t_plain
                    # (weight 0) takes no traffic.
                    "tuned": {
                        "sorry": False,
                        "balance": "uri whole",
                        "timeouts": {"server": "120s"},
                        "raw": ["http-response set-header X-Backend tuned"],
                        "servers": {
                            "t_ssl": {
                                "address": f"127.0.0.1:{ports['www_https']}",
                                "ssl": {"verify": "none"},
                            },
                            "t_plain": {
                                "address": f"127.0.0.1:{ports['app2']}",
                                "weight": 0,
                                "check": False,
                            },
                        },
                    },
                    # The app answers 200: a check that expects 204 marks it down.
                    "strict": {
                        "sorry": False,
                        "servers": {"strict1": f"127.0.0.1:{ports['app1']}"},
                        "check": {"path": "/health", "status": 204, "host": "strict.example.test"},
                    },
                },
            },
        }
    }


@pytest.fixture(scope="module")
def ports():
    names = ("www_http", "www_https", "more_http", "more_https")
    return {name: free_port() for name in names + APPS}


@pytest.fixture(scope="module")
def apps(ports):
    started = [AppServer(name, port=ports[name]).start() for name in APPS]
    yield
    for app in started:
        app.stop()


def self_signed_pem(common_name):
    """A certificate and its key as one PEM, for ``common_name``."""
    proc = subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", f"/CN={common_name}", "-addext", f"subjectAltName=DNS:{common_name}"),
            *("-keyout", "/dev/stdout", "-out", "/dev/stdout"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory, ports, apps):
    tmp_path = tmp_path_factory.mktemp("site")
    pillar = merge(sandbox(tmp_path, ports), merge(site_pillar(ports), more_pillar(ports)))
    certificates = {"shop": {"pem": self_signed_pem(SHOP_HOST)}}
    pillar = merge(pillar, {"haproxy_maint": {"tls": {"certificates": certificates}}})
    lb = Site(tmp_path, pillar)
    lb.render()
    lb.start_haproxy()
    yield lb
    lb.haproxy.stop()


def get(port, path="/", host="www.example.test", cookie=None, tls=False, accept=None, bypass=False):
    """One request to the LB; (status, {lower-case header: value}, body)."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    headers = {"Host": host, **({"Cookie": cookie} if cookie else {})}
    if accept:
        headers["Accept"] = accept
    if bypass:
        headers["X-Maintenance-Bypass"] = BYPASS_SECRET
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read().decode()
    finally:
        conn.close()


def app_of(answer):
    """The app server that answered (its name), or "page" for the maintenance page (from
    HAProxy's memory)."""
    status, _, body = answer
    if status == 503 and PAGE_MARK in body:
        return "page"
    assert status == 200 and body.startswith("APP "), answer
    return body.split()[1]


def test_issue_pillar_renders_a_config_haproxy_accepts_without_warning(tmp_path, ports):
    site = Site(tmp_path, merge(sandbox(tmp_path, ports), site_pillar(ports)))
    text = site.render()
    check = subprocess.run(
        [HAPROXY, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr
    assert "\nfrontend www\n" in text
    # Backends reached through the frontend have no frontend of their own.
    assert "\nfrontend app\n" not in text and "\nfrontend shop\n" not in text
    assert "cookie SHOPSRV insert indirect nocache" in text


def test_routes_by_host_path_and_default(site, ports):
    www = ports["www_http"]
    assert app_of(get(www, "/", host="api.example.test")) == "api1"
    assert app_of(get(www, "/shop/", host="api.example.test")) == "api1"  # first match wins
    assert app_of(get(www, "/", host="API.Example.test:8080")) == "api1"
    assert app_of(get(www, "/shop/basket")) == "shop1"
    assert app_of(get(www, "/shop")) in ("app1", "app2")
    assert app_of(get(www, "/")) in ("app1", "app2")


def test_wildcard_host_exact_path_and_both_conditions(site, ports):
    more = ports["more_https"]
    assert app_of(get(more, "/", host="eu.api.example.test", tls=True)) == "api1"
    assert app_of(get(more, "/", host="api.example.test", tls=True)) in ("app1", "app2")
    assert app_of(get(more, "/cart", tls=True)) == "shop1"
    assert app_of(get(more, "/cart/x", tls=True)) in ("app1", "app2")
    assert app_of(get(more, "/v2/x", host="both.example.test", tls=True)) == "api1"
    assert app_of(get(more, "/v1/x", host="both.example.test", tls=True)) in ("app1", "app2")


def test_redirect_to_https(site, ports):
    status, headers, _ = get(ports["more_http"], "/cart?x=1", host="shop.example.test")
    assert status == 308
    assert headers["location"] == "https://shop.example.test/cart?x=1"


def op_states(haproxy):
    """``{(backend, server): operational state}`` (0 DOWN, 2 UP) from show servers state."""
    return {key: int(states[0]) for key, states in haproxy.server_states().items()}


def test_backend_http_check_uses_its_path_and_status(site):
    wait_for(
        lambda: op_states(site.haproxy)[("strict", "strict1")] == 0,
        CHECK_TIMEOUT,
        "strict1 DOWN (its check expects 204, the app answers 200)",
    )
    states = op_states(site.haproxy)
    assert states[("shop", "shop1")] == 2
    # The sorry server of a checked backend tracks its own check, not the app's path.
    assert states[("shop", "localhost")] == 2
    text = site.haproxy.config_path.read_text()
    assert "http-check send meth GET uri /health hdr Host strict.example.test" in text
    assert "http-check expect status 204" in text


def test_cookie_persistence_before_during_and_after_maintenance(site, ports):
    www = ports["www_http"]
    status, headers, body = get(www, "/shop/basket")
    assert app_of((status, headers, body)) == "shop1"
    jar = headers["set-cookie"].split(";")[0]
    assert jar == "SHOPSRV=shop1"
    site.maint("start", 'backends=["shop"]', "ensure_sorry=False")
    try:
        for cookie in (jar, None):
            answer = get(www, "/shop/basket", cookie=cookie)
            assert app_of(answer) == "page"
            # The page neither sets nor removes the visitor's persistence cookie.
            assert "set-cookie" not in answer[1]
        assert app_of(get(www, "/")) in ("app1", "app2")
    finally:
        site.maint("stop", 'backends=["shop"]')
    assert app_of(get(www, "/shop/basket", cookie=jar)) == "shop1"
    status, headers, body = get(www, "/shop/basket")
    assert app_of((status, headers, body)) == "shop1"
    assert headers["set-cookie"].startswith("SHOPSRV=shop1")


def stick_entries(haproxy, table):
    """The server_id of every entry of a stick table."""
    lines = haproxy.command(f"show table {table}").splitlines()[1:]
    return [
        field.split("=", 1)[1]
        for line in lines
        for field in line.split()
        if field.startswith("server_id=")
    ]


def server_id(haproxy, backend, server):
    lines = haproxy.command("show servers state").splitlines()[2:]
    for fields in (line.split() for line in lines):
        if fields and fields[1] == backend and fields[3] == server:
            return fields[2]
    raise AssertionError(f"no server {backend}/{server}")


def test_stick_table_never_points_at_the_page(site, ports):
    more = ports["more_https"]
    host = "sticky.example.test"
    first = app_of(get(more, "/", host=host, tls=True))
    assert app_of(get(more, "/", host=host, tls=True)) == first
    pinned = server_id(site.haproxy, "sticky", first)
    assert stick_entries(site.haproxy, "sticky") == [pinned]
    site.maint("start", 'backends=["sticky"]', "ensure_sorry=False")
    try:
        assert app_of(get(more, "/", host=host, tls=True)) == "page"
        assert stick_entries(site.haproxy, "sticky") == [pinned]
    finally:
        site.maint("stop", 'backends=["sticky"]')
    assert app_of(get(more, "/", host=host, tls=True)) == first
    assert server_id(site.haproxy, "sticky", "localhost") not in stick_entries(
        site.haproxy, "sticky"
    )


def served_name(port, sni):
    """The common name of the certificate the LB presents for ``sni``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    subject = x509.load_der_x509_certificate(der).subject
    return subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_certificate_chosen_by_sni(site, ports):
    for port in (ports["www_https"], ports["more_https"]):
        assert served_name(port, SHOP_HOST) == SHOP_HOST
        # Any other name gets tls:cert_file (here the self-signed "localhost").
        assert served_name(port, "www.example.test") == "localhost"


def test_whole_site_config_has_no_warning(site, tmp_path):
    # With a state file of no server: the running LB's has DOWN servers HAProxy would report.
    state = tmp_path / "server-state"
    state.write_text("1\n")
    text = site.haproxy.config_path.read_text()
    config = tmp_path / "haproxy.cfg"
    config.write_text(text.replace(str(site.tmp_path / "state/server-state"), str(state)))
    check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr


def test_server_options_and_raw_lines(site, ports):
    text = site.haproxy.config_path.read_text()
    assert f"server t_plain 127.0.0.1:{ports['app2']} weight 0\n" in text
    assert "  balance uri whole\n  timeout server 120s\n" in text
    assert "\n  tune.bufsize 32768\n" in text
    for _ in range(3):
        status, headers, body = get(ports["more_https"], "/x", host="tuned.example.test", tls=True)
        # Through t_ssl (TLS to frontend www, whose default backend is app).
        assert app_of((status, headers, body)) in ("app1", "app2")
        assert headers["x-backend"] == "tuned"
        assert headers["x-site"] == "more"


# --- path-scoped maintenance -------------------------------------------------------------


def admin_states(haproxy, backend):
    """``{server: admin state}`` of one backend's app servers ("0": READY)."""
    return {
        server: states[1]
        for (name, server), states in haproxy.server_states().items()
        if name == backend and server != "localhost"
    }


def test_path_scoped_maintenance_takes_only_its_paths_down(site, ports):
    www = ports["www_http"]
    before = admin_states(site.haproxy, "app")
    result = site.maint("start", 'backends=["app"]', 'paths=["/checkout"]', "ensure_sorry=False")
    try:
        assert result["state"] == "changed" and result["changed"] == {}
        assert result["paths"] == {"app": ["/checkout"]} and result["visitor"] == "applied"
        assert app_of(get(www, "/checkout")) == "page"
        assert app_of(get(www, "/checkout/cart?id=1")) == "page"
        # The rest of the app, the shop's path and the api's host reach their apps.
        assert app_of(get(www, "/")) in ("app1", "app2")
        assert app_of(get(www, "/account")) in ("app1", "app2")
        assert app_of(get(www, "/shop/basket")) == "shop1"
        assert app_of(get(www, "/checkout", host="api.example.test")) == "api1"
        # The visitor's side: the page's assets and its JSON.
        status, _, body = get(www, "/.maintenance/css/maintenance.css")
        assert (status, body) == (200, (PAGE_DIR / "css/maintenance.css").read_text())
        status, headers, _ = get(www, "/checkout", accept="application/json")
        assert status == 503 and headers["cache-control"] == "no-store"
        # The servers stay READY: they serve the other paths.
        assert admin_states(site.haproxy, "app") == before
        assert set(before.values()) == {"0"}
        status_report = site.maint("status")
        assert status_report["paths_in_maintenance"] == {"app": ["/checkout"]}
    finally:
        stopped = site.maint("stop", 'backends=["app"]')
    assert stopped["paths"] == {} and stopped["active"] is False
    assert app_of(get(www, "/checkout")) in ("app1", "app2")


def test_a_whole_backend_takes_only_its_routes_down(site, ports):
    www = ports["www_http"]
    site.maint("start", 'backends=["shop"]', "ensure_sorry=False")
    try:
        assert app_of(get(www, "/shop/basket")) == "page"
        assert app_of(get(www, "/checkout")) in ("app1", "app2")
        assert app_of(get(www, "/", host="api.example.test")) == "api1"
    finally:
        site.maint("stop", 'backends=["shop"]')
    assert app_of(get(www, "/shop/basket")) == "shop1"


def test_whole_backend_wins_over_its_paths_until_its_stop(site, ports):
    www = ports["www_http"]
    site.maint("start", 'backends=["shop"]', 'paths=["/shop/cart"]', "ensure_sorry=False")
    try:
        assert app_of(get(www, "/shop/basket")) == "shop1"
        result = site.maint("start", 'backends=["shop"]', "ensure_sorry=False")
        assert result["backends"] == ["shop"]
        assert app_of(get(www, "/shop/basket")) == "page"
        # A path start on a backend in maintenance as a whole changes nothing.
        again = site.maint("start", 'backends=["shop"]', 'paths=["/shop/x"]', "ensure_sorry=False")
        assert again["state"] == "already in maintenance"
    finally:
        stopped = site.maint("stop", 'backends=["shop"]')
    assert stopped["active"] is False and stopped["paths"] == {}
    assert app_of(get(www, "/shop/cart")) == "shop1"


def test_path_scoped_page_never_pins_and_the_cookie_holds(site, ports):
    www = ports["www_http"]
    jar = get(www, "/shop/basket")[1]["set-cookie"].split(";")[0]
    site.maint("start", 'backends=["shop"]', 'paths=["/shop/cart"]', "ensure_sorry=False")
    try:
        # The cookie names a READY server: the page still wins, and sets no cookie.
        answer = get(www, "/shop/cart", cookie=jar)
        assert app_of(answer) == "page" and "set-cookie" not in answer[1]
        assert app_of(get(www, "/shop/basket", cookie=jar)) == "shop1"
    finally:
        site.maint("stop", 'backends=["shop"]')


def test_path_scoped_maintenance_sticks_through_reload_and_restart(site, ports):
    www = ports["www_http"]
    site.maint("start", 'backends=["app"]', 'paths=["/checkout"]', "ensure_sorry=False")
    try:
        site.haproxy.reload()  # returns once the new worker answers
        assert app_of(get(www, "/checkout/x")) == "page"
        assert app_of(get(www, "/")) in ("app1", "app2")
        site.haproxy.stop()
        site.start_haproxy()
        assert app_of(get(www, "/checkout/x")) == "page"
        assert app_of(get(www, "/")) in ("app1", "app2")
    finally:
        site.maint("stop", 'backends=["app"]')
    assert app_of(get(www, "/checkout/x")) in ("app1", "app2")


def test_path_scoped_page_wins_over_a_stick_entry(site, ports):
    more = ports["more_https"]
    host = "sticky.example.test"
    first = app_of(get(more, "/", host=host, tls=True))
    pinned = stick_entries(site.haproxy, "sticky")
    site.maint("start", 'backends=["sticky"]', 'paths=["/pay"]', "ensure_sorry=False")
    try:
        # The entry names a READY server: the page still wins, and the entry stays.
        assert app_of(get(more, "/pay/now", host=host, tls=True)) == "page"
        assert stick_entries(site.haproxy, "sticky") == pinned
        assert app_of(get(more, "/other", host=host, tls=True)) == first
    finally:
        site.maint("stop", 'backends=["sticky"]')


def test_visitor_side_behind_routes_assets_on_every_host_and_bypass_per_backend(site, ports):
    www = ports["www_http"]
    site.maint("start", 'backends=["shop"]', "ensure_sorry=False")
    site.maint("start", 'backends=["app"]', 'paths=["/checkout"]', "ensure_sorry=False")
    try:
        # The page's status document and assets answer on every host of the frontend.
        for host in ("www.example.test", "api.example.test", "other.example.test"):
            status, _, body = get(www, "/.maintenance/maintenance.json", host=host)
            assert status == 200 and json.loads(body)["maintenance"] is True, host
        # The team's bypass reaches each routed backend's own servers.
        assert app_of(get(www, "/shop/basket", bypass=True)) == "shop1"
        assert app_of(get(www, "/checkout/x", bypass=True)) in ("app1", "app2")
        assert app_of(get(www, "/shop/basket")) == "page"
        assert app_of(get(www, "/checkout/x")) == "page"
    finally:
        site.maint("stop")
    # Outside maintenance, /.maintenance/ is the app's like any other path.
    assert app_of(get(www, "/.maintenance/maintenance.json")) in ("app1", "app2")
