"""The maintenance page in Debian's Chromium (headless), through HAProxy on this machine.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``,
Python stdlib only): the document answers 503, every CSS, font and image request succeeds,
the fonts and the image render, ``reason``/``eta`` from maintenance.json show as text;
screenshots (desktop and phone) go to ``artifacts/``. A deep link opened during
``make maint-start`` comes back to the app by itself after ``make maint-stop``.
"""

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness.converge import REPO, make_maint
from harness.haproxy import stop_pid, wait_for
from harness.sandbox import AppServer, http_get, is_page

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the page is served by make converge"),
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]

PAGE = "https://127.0.0.1/"
PAGE_ROOT = Path("/var/www")
# The status document as HAProxy reads it (visitor:status_file, the default).
STATUS_FILE = Path("/var/lib/haproxy/haproxy-maint/status.json")
ARTIFACTS = REPO / "artifacts"
ASSET_TYPES = ("Stylesheet", "Font", "Image", "Fetch")
DEEP_LINK = "https://127.0.0.1/checkout/cart?id=1&step=2"
ETA_AT = "2099-01-02T03:04:05Z"
DEV_APP_PORTS = {"app1": 8001, "app2": 8002}
# pillar/haproxy_maint/dev.sls polls every 5 s; a poll comes at most 1.5 times that late.
POLL_S = 5
BACK_TIMEOUT = POLL_S * 1.5 + 15
VIEWPORTS = {"desktop": (1280, 800, False), "phone": (390, 844, True)}
LOAD_TIMEOUT = 30.0
# An app server that an earlier test stopped counts as up until two health checks failed
# (the dev LB's inter 10s, fall 2); till then HAProxy answers its requests itself.
PAGE_WAIT = 40
HIGH_FD = 200
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--ignore-certificate-errors",  # dev: self-signed
    "--no-proxy-server",  # loopback only
    "--remote-debugging-pipe",
]


class DevTools:
    """A minimal DevTools client on Chromium's pipe: fd 3 to it, fd 4 from it, NUL-framed."""

    def __init__(self, user_data_dir):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def child_fds():
            # Chromium reads fd 3 and writes fd 4; go through high numbers so the two
            # pipe ends cannot overwrite each other whatever numbers they had.
            os.dup2(to_chrome_r, HIGH_FD)
            os.dup2(from_chrome_w, HIGH_FD + 1)
            os.dup2(HIGH_FD, 3)
            os.dup2(HIGH_FD + 1, 4)

        self.proc = subprocess.Popen(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=child_fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_chrome, 65536)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method, session=None, timeout=LOAD_TIMEOUT, **params):
        """Send one command, keep the events that arrive meanwhile, return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_event(self, method, timeout=LOAD_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._read_message(deadline))

    def close(self):
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        stop_pid(self.proc)


@pytest.fixture
def browser(tmp_path):
    devtools = DevTools(tmp_path / "chromium-profile")
    yield devtools
    devtools.close()


@pytest.fixture
def page_served():
    """HAProxy serves the page: every app server is seen down."""
    wait_for(lambda: is_page(*http_get(PAGE)), PAGE_WAIT, "the maintenance page")


@pytest.fixture
def maintenance_json():
    """A status document with markup in it, where the sorry server and HAProxy read it, and
    HAProxy serving it; the ones before (if any) are put back after."""
    paths = (PAGE_ROOT / "maintenance.json", STATUS_FILE)
    before = {path: path.read_bytes() if path.exists() else None for path in paths}
    state = {
        "maintenance": True,
        "active": True,
        "reason": "<b>Database</b> upgrade",
        "eta": "12:30 UTC",
        "poll_s": 60,
    }
    for path in paths:
        path.write_text(json.dumps(state, separators=(",", ":")) + "\n")
    wait_for(
        lambda: state["reason"] in http_get(PAGE + ".maintenance/maintenance.json")[1],
        PAGE_WAIT,
        "the status document in HAProxy",
    )
    yield state
    for path, text in before.items():
        if text is None:
            path.unlink()
        else:
            path.write_bytes(text)


def load(browser, width, height, mobile, url=PAGE):
    """Open ``url`` at one viewport; return (session, {url: (type, status or error)})."""
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Network", "Page", "Runtime"):
        browser.call(f"{domain}.enable", session=session)
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        session=session,
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=mobile,
    )
    browser.events.clear()
    browser.call("Page.navigate", session=session, url=url)
    browser.wait_event("Page.loadEventFired")
    # Fonts and the fetch of maintenance.json finish after the load event.
    browser.call(
        "Runtime.evaluate",
        session=session,
        expression="document.fonts.ready.then(() => new Promise(r => setTimeout(r, 500)))",
        awaitPromise=True,
    )
    requests, outcome = {}, {}
    for event in browser.events:
        params = event.get("params", {})
        if event.get("method") == "Network.requestWillBeSent":
            requests[params["requestId"]] = (params["request"]["url"], params.get("type"))
        elif event.get("method") == "Network.responseReceived":
            outcome[params["requestId"]] = params["response"]["status"]
        elif event.get("method") == "Network.loadingFailed":
            outcome[params["requestId"]] = params["errorText"]
    results = {url: (kind, outcome.get(rid, "no answer")) for rid, (url, kind) in requests.items()}
    return session, results


def evaluate(browser, session, expression):
    answer = browser.call(
        "Runtime.evaluate", session=session, expression=expression, returnByValue=True
    )
    return answer["result"].get("value")


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_page_loads_completely_in_chromium(browser, page_served, maintenance_json, viewport):
    session, results = load(browser, *VIEWPORTS[viewport])
    ARTIFACTS.mkdir(exist_ok=True)
    shot = browser.call("Page.captureScreenshot", session=session, format="png")
    (ARTIFACTS / f"maintenance-page-{viewport}.png").write_bytes(base64.b64decode(shot["data"]))

    assert_page_complete(results)

    assert evaluate(browser, session, "[...document.fonts].every(f => f.status === 'loaded')")
    assert evaluate(browser, session, "document.querySelector('img').naturalWidth") > 0
    # Shown as text: the markup in reason stays visible characters, no element is made.
    assert (
        evaluate(browser, session, "document.getElementById('reason').textContent")
        == (maintenance_json["reason"])
    )
    assert evaluate(browser, session, "document.querySelector('#reason b')") is None
    assert evaluate(browser, session, "document.getElementById('eta').textContent") == "12:30 UTC"
    width = evaluate(browser, session, "document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport][0], "the page scrolls sideways"


def assert_page_complete(results):
    """The document is the 503 page; every asset and the status document answered 200."""
    kinds = {kind for kind, _ in results.values()}
    assert {"Document", "Stylesheet", "Font", "Image", "Fetch"} <= kinds, results
    assert {status for kind, status in results.values() if kind == "Document"} == {503}, results
    failed = {
        url: status
        for url, (kind, status) in results.items()
        if kind in ASSET_TYPES and status != 200
    }
    assert failed == {}, results


@pytest.fixture
def dev_app():
    """The app on the dev LB's app ports: answers ``APP <name>`` on every path."""
    servers = [AppServer(name, port=port).start() for name, port in DEV_APP_PORTS.items()]
    yield servers
    for server in servers:
        server.stop()


def test_deep_link_shows_the_page_then_the_app_again(browser, dev_app):
    make_maint("start", REASON="Release <i>42</i>", ETA_AT=ETA_AT)
    try:
        session, results = load(browser, *VIEWPORTS["desktop"], url=DEEP_LINK)
        assert_page_complete(results)
        assert evaluate(browser, session, "location.href") == DEEP_LINK
        assert evaluate(browser, session, "document.getElementById('reason').textContent") == (
            "Release <i>42</i>"
        )
        # eta_at in the visitor's local time (minutes are the same in every zone here).
        assert ":04" in evaluate(browser, session, "document.getElementById('eta').textContent")
    finally:
        make_maint("stop")

    # No user action: the open page notices the end of maintenance and reloads its URL.
    wait_for(
        lambda: shows_app_at(browser, session, DEEP_LINK),
        BACK_TIMEOUT,
        "the tab to show the app at the deep link",
    )


def shows_app_at(browser, session, url):
    """True when the tab of ``session`` is at ``url`` and shows the app (``APP <name>``)."""
    try:
        href = evaluate(browser, session, "location.href")
        text = evaluate(browser, session, "document.body ? document.body.innerText : ''")
    except RuntimeError:
        return False  # between two documents: no context to evaluate in
    return href == url and (text or "").startswith("APP ")
