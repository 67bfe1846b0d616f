"""``make converge`` on this machine (env dev), then the failover paths through HAProxy.

Root only: it installs packages, binds 127.0.0.1:80/443 and runs the init scripts.
"""

import http.server
import itertools
import os
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from harness.converge import REPO, changed_states, failed_states, make_maint, parse_local
from harness.haproxy import stop_pid, wait_for
from harness.sandbox import PAGE_MARK, http_request

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="make converge needs root (packages, ports 80/443)"
    ),
]

HTTP = "http://127.0.0.1/"
HTTPS = "https://127.0.0.1/"
APP_PORTS = (8001, 8002)
SORRY_PROGRAM = "http-server"
SUPERVISOR_CONF = "/etc/supervisor/supervisord.conf"
DEEP = "https://127.0.0.1/any/deep/path?q=1"
APP_MARK = "APP SERVER"
# dev checks: inter 1s, fall 1, rise 1; the rest is slack for a loaded machine.
FAILOVER_WINDOW = 6.0
RESTART_WINDOW = 2.0
CONVERGE_TIMEOUT = 600
OPENER = urllib.request.build_opener(
    urllib.request.ProxyHandler({}),  # loopback only, whatever the environment says
    urllib.request.HTTPSHandler(context=ssl._create_unverified_context()),  # dev: self-signed
)


def make_converge():
    """``make converge`` with JSON output; return (exit code, state results)."""
    proc = subprocess.run(
        ["make", "-s", "--no-print-directory", "converge", "CONVERGE_ARGS=--out=json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CONVERGE_TIMEOUT,
    )
    return proc.returncode, parse_local(proc.stdout, proc.stderr)


def fetch(url):
    """(status, body) of a GET; error statuses are answers too."""
    try:
        with OPENER.open(url, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        return None, str(err)


def answers(url, status, mark):
    """A predicate for wait_for: ``url`` answers ``status`` with ``mark`` in the body."""

    def check():
        got_status, body = fetch(url)
        return got_status == status and mark in body

    return check


def supervisorctl(*args):
    return subprocess.run(
        ["supervisorctl", "-c", SUPERVISOR_CONF, *args], capture_output=True, text=True, timeout=30
    ).stdout.strip()


def sorry_pid():
    """The sorry server's PID under supervisord, 0 when it is not running."""
    answer = supervisorctl("pid", SORRY_PROGRAM)
    return int(answer) if answer.isdigit() else 0


@pytest.fixture(scope="module")
def converged():
    """Two converges in a row: the first sets the machine up, the second must change nothing."""
    first = make_converge()
    second = make_converge()
    return first, second


@pytest.fixture
def app_servers(tmp_path):
    """Tiny HTTP servers on the dev app ports, stopped by PID at the end."""
    (tmp_path / "index.html").write_text(f"<h1>{APP_MARK}</h1>\n")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", http.server.__name__, str(port), "--bind", "127.0.0.1"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in APP_PORTS
    ]
    yield procs
    for proc in procs:
        stop_pid(proc)


def test_converge_succeeds(converged):
    (code, result), _ = converged
    assert failed_states(result) == {}
    assert code == 0


def test_second_converge_changes_nothing(converged):
    _, (code, result) = converged
    assert code == 0
    assert changed_states(result) == []


@pytest.mark.parametrize("url", [HTTP, HTTPS])
def test_page_through_haproxy_without_app(converged, url):
    wait_for(answers(url, 503, PAGE_MARK), FAILOVER_WINDOW, f"the maintenance page on {url}")
    for asset in ("css/maintenance.css", "font/dejavu-sans.woff", "img/maintenance.svg"):
        assert fetch(f"{url}.maintenance/{asset}")[0] == 200, asset


def test_app_through_haproxy_then_page_again(converged, app_servers):
    for url in (HTTP, HTTPS):
        wait_for(answers(url, 200, APP_MARK), FAILOVER_WINDOW, f"the app on {url}")
    for proc in app_servers:
        stop_pid(proc)
    wait_for(answers(HTTP, 503, PAGE_MARK), FAILOVER_WINDOW, "the page after the app stopped")


def test_killed_sorry_server_comes_back(converged):
    old = wait_for(sorry_pid, FAILOVER_WINDOW, "the sorry server's PID")
    os.kill(old, signal.SIGKILL)
    new = wait_for(
        lambda: (pid := sorry_pid()) not in (0, old) and pid,
        RESTART_WINDOW,
        "supervisord to restart the sorry server",
    )
    assert new != old
    wait_for(answers(HTTP, 503, PAGE_MARK), FAILOVER_WINDOW, "the page from the new sorry server")


def test_sorry_server_down_still_gives_the_page_from_haproxys_memory(converged):
    """Issue 19: a sorry server that stays down leaves HAProxy's own copy answering: the whole
    page as a 503 on HTTP and HTTPS, not a bare error page."""
    wait_for(answers(HTTP, 503, PAGE_MARK), FAILOVER_WINDOW, "the page")
    supervisorctl("stop", SORRY_PROGRAM)
    try:
        for url in (HTTP, HTTPS, DEEP):
            status, body = fetch(url)
            assert status == 503 and PAGE_MARK in body, (url, status, body[:200])
    finally:
        supervisorctl("start", SORRY_PROGRAM)
    # Back in HAProxy's eyes: a file HAProxy does not hold (a new name each time) comes from
    # the sorry server (its 404) again, not from HAProxy's own 503.
    probes = itertools.count()
    wait_for(
        lambda: fetch(f"{HTTP}.maintenance/probe-{next(probes)}")[0] == 404,
        FAILOVER_WINDOW,
        "the sorry server back in HAProxy",
    )


# --- the visitor's side (issue 9) ------------------------------------------------------------


def visitor_answer(url, source="127.0.0.1"):
    """What a visitor gets, without what changes from one answer to the next (Date)."""
    status, headers, body = http_request(url, source=source)
    headers.pop("date", None)
    return status, headers, body


def test_deep_link_without_app_is_the_page_as_503(converged):
    wait_for(answers(DEEP, 503, PAGE_MARK), FAILOVER_WINDOW, "the page on a deep link")
    status, headers, _body = visitor_answer(DEEP)
    assert status == 503
    assert headers["cache-control"] == "no-store" and headers["retry-after"] == "300"


def test_all_down_answers_like_maint_start(converged, app_servers):
    for proc in app_servers:
        stop_pid(proc)
    wait_for(answers(DEEP, 503, PAGE_MARK), FAILOVER_WINDOW, "the page with every app server down")
    all_down = visitor_answer(DEEP)
    make_maint("start")
    try:
        assert visitor_answer(DEEP) == all_down
    finally:
        make_maint("stop")


def test_an_app_that_just_died_never_gets_the_sorry_servers_200(converged, app_servers):
    """Between an app server's death and its failed health checks HAProxy still counts it up
    and redispatches its requests to the backup: those get the maintenance page as a 503 with
    no-store, never the sorry server's own 200 with its one-hour Cache-Control."""
    wait_for(answers(HTTPS, 200, APP_MARK), FAILOVER_WINDOW, "the app")
    for proc in app_servers:
        stop_pid(proc)
    status, headers, body = visitor_answer(HTTPS)
    assert status == 503 and PAGE_MARK in body, (status, headers)
    assert headers["cache-control"] == "no-store"
    assert "max-age" not in headers["cache-control"]


def test_make_maint_start_bypass_lets_the_team_through(converged, app_servers):
    wait_for(answers(HTTPS, 200, APP_MARK), FAILOVER_WINDOW, "the app")
    make_maint("start", REASON="Release check", BYPASS="127.0.0.2/32")
    try:
        status, _headers, body = visitor_answer(HTTPS, source="127.0.0.2")
        assert status == 200 and APP_MARK in body
        status, headers, body = visitor_answer(DEEP)
        assert status == 503 and PAGE_MARK in body and "retry-after" in headers
    finally:
        make_maint("stop")
    wait_for(answers(HTTPS, 200, APP_MARK), FAILOVER_WINDOW, "the app after maint-stop")
    assert visitor_answer(HTTPS)[0] == 200
