"""The maintenance page behind a routed site, in Debian's Chromium (headless): the issue-17
site rendered by the formula and run by haproxy on free loopback ports, the shipped page
served by a static sorry server. A deep link under a path in maintenance shows the page with
all its assets; another path shows the app; after the stop the open page takes its visitor
back to the deep link by itself."""

import shutil
import subprocess
import sys

import pytest
from salt.utils.dictupdate import merge

from harness import REPO
from harness.haproxy import free_port, stop_pid, wait_for
from harness.sandbox import AppServer, http_get
from tests.functional.routed_site import Site, sandbox, site_pillar
from tests.integration.test_page_browser import (
    VIEWPORTS,
    DevTools,
    assert_page_complete,
    evaluate,
    load,
    shows_app_at,
)

pytestmark = pytest.mark.skipif(
    not shutil.which("chromium"), reason="Debian's chromium is not installed"
)

APPS = ("app1", "app2", "shop1", "api1")
PAGE_SOURCE = REPO / "salt/haproxy_maint/files/page"
# The page polls every visitor:poll_interval (its floor, 2 s), at most 1.5 times late.
POLL_S = 2
BACK_TIMEOUT = POLL_S * 1.5 + 15
START_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def routed_site(tmp_path_factory):
    """The site, its apps, and a static sorry server on the shipped page (as http-server)."""
    tmp_path = tmp_path_factory.mktemp("routed")
    ports = {name: free_port() for name in ("www_http", "www_https", "sorry", *APPS)}
    apps = [AppServer(name, port=ports[name]).start() for name in APPS]
    shutil.copytree(PAGE_SOURCE, tmp_path / "www")
    sorry = subprocess.Popen(
        [
            *(sys.executable, "-m", "http.server", "--bind", "127.0.0.1"),
            *("--directory", str(tmp_path / "www"), str(ports["sorry"])),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sorry_url = f"http://127.0.0.1:{ports['sorry']}/"
    wait_for(lambda: http_get(sorry_url)[0] == 200, START_TIMEOUT, "the static sorry server")
    poll = {"haproxy_maint": {"visitor": {"poll_interval": POLL_S}}}
    site = Site(tmp_path, merge(sandbox(tmp_path, ports), merge(site_pillar(ports), poll)))
    site.render()
    site.start_haproxy()
    yield site, ports
    site.haproxy.stop()
    stop_pid(sorry)
    for app in apps:
        app.stop()


@pytest.fixture
def browser(tmp_path):
    devtools = DevTools(tmp_path / "chromium-profile")
    yield devtools
    devtools.close()


def test_deep_link_under_a_maintained_path_shows_the_page_then_the_app(routed_site, browser):
    site, ports = routed_site
    base = f"http://127.0.0.1:{ports['www_http']}"
    deep_link = f"{base}/checkout/cart?id=1&step=2"
    site.maint("start", 'backends=["app"]', 'paths=["/checkout"]', 'reason="Checkout release"')
    try:
        session, results = load(browser, *VIEWPORTS["desktop"], url=deep_link)
        assert_page_complete(results)
        assert evaluate(browser, session, "location.href") == deep_link
        reason = "document.getElementById('reason').textContent"
        # The page's first poll of its status document runs after the page loaded.
        wait_for(
            lambda: evaluate(browser, session, reason) == "Checkout release",
            START_TIMEOUT,
            "the reason on the page",
        )
        # Another path of the same backend is the app's.
        other, _ = load(browser, *VIEWPORTS["desktop"], url=f"{base}/account")
        assert evaluate(browser, other, "document.body.innerText").startswith("APP ")
    finally:
        site.maint("stop")

    # No user action: the open page notices the end of maintenance and reloads its URL.
    wait_for(
        lambda: shows_app_at(browser, session, deep_link),
        BACK_TIMEOUT,
        "the tab to show the app at the deep link",
    )
