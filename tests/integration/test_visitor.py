"""What a visitor gets while a backend is in maintenance, through a real LB (haproxy, the npm
sorry server under supervisord, highstated by a real master): the page as a 503 on every
path and method, JSON for JSON clients, the page's assets, the team's bypass; and nothing of
it when maintenance is off."""

import base64
import datetime
import email.utils
import json
import re
import socket
import threading
from pathlib import Path

import pytest

from harness.haproxy import runtime_command, wait_for
from harness.sandbox import (
    BYPASS_SECRET,
    PAGE_MARK,
    http_request,
    is_page,
    serves_app,
    serves_page,
)

ETA_AT = datetime.datetime(2099, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
START = {"reason": "Database upgrade", "eta": "in an hour", "bypass": ["127.0.0.2/32"]}
ASSETS = (
    "/.maintenance/css/maintenance.css",
    "/.maintenance/font/dejavu-sans.woff",
    "/.maintenance/font/dejavu-sans-bold.woff",
    "/.maintenance/img/maintenance.svg",
)
STATUS_DOCUMENT = "/.maintenance/maintenance.json"
SWITCH_TIMEOUT = 15
HIGHSTATE_TIMEOUT = 600
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade"}
JUNK_ANSWER = b"this is not HTTP\r\n\r\n"


def start(salt_cli, lb_id, **fields):
    args = [f"{key}={json.dumps(value)}" for key, value in {**START, **fields}.items()]
    ret = salt_cli.run("haproxy_maint.start", *args, minion_tgt=lb_id)
    assert ret.returncode == 0, ret
    return ret.data


def stop(salt_cli, lb_id):
    ret = salt_cli.run("haproxy_maint.stop", minion_tgt=lb_id)
    assert ret.returncode == 0, ret
    return ret.data


@pytest.fixture
def maintained(clean_cluster, salt_cli):
    """lb1 in maintenance, by hand, with a bypass and a machine-readable ETA, the reason in
    HAProxy's copy of the status document (a start waits for its Lua task)."""
    result = start(salt_cli, "lb1", eta_at=ETA_AT.isoformat())
    lb = clean_cluster["lb1"]
    wait_for(lambda: serves_page(lb, "app"), SWITCH_TIMEOUT, "the page on lb1")
    assert START["reason"] in status_map(lb), "HAProxy holds the status document"
    return lb, result


def get(lb, path="/", **kwargs):
    return http_request(lb.url("app", path), **kwargs)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/checkout/cart?id=1&coupon=%3Cb%3E"),
        ("GET", "/robots.txt"),
        ("GET", "/index.html?x=1"),
        ("POST", "/checkout/pay"),
        ("PUT", "/api/v1/cart/7"),
        ("DELETE", "/api/v1/cart/7"),
        ("PATCH", "/any/deep/path?q=1"),
    ],
)
def test_every_path_and_method_gets_the_page_as_503(maintained, method, path):
    lb, _result = maintained
    body = b"item=1" if method in ("POST", "PUT", "PATCH") else None
    status, headers, text = get(lb, path, method=method, body=body)
    assert is_page(status, text), (status, text[:200])
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"].startswith("text/html")
    assert headers["retry-after"] == email.utils.format_datetime(ETA_AT, usegmt=True)
    assert "etag" not in headers and "last-modified" not in headers


def test_head_is_answered_like_get(maintained):
    lb, _result = maintained
    status, headers, text = get(lb, "/any/deep/path?q=1", method="HEAD")
    assert status == 503 and text == ""
    assert headers["cache-control"] == "no-store" and "retry-after" in headers


def test_conditional_and_range_requests_still_get_the_whole_page(maintained):
    lb, _result = maintained
    status, _headers, text = get(
        lb,
        "/shop?page=2",
        headers={"If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT", "Range": "bytes=0-9"},
    )
    assert is_page(status, text)


def test_json_client_gets_json_503(maintained):
    lb, _result = maintained
    status, headers, text = get(
        lb, "/api/v1/orders?limit=5", headers={"Accept": "application/json"}
    )
    assert status == 503
    assert headers["content-type"].startswith("application/json")
    assert headers["cache-control"] == "no-store" and "retry-after" in headers
    answer = json.loads(text)
    assert answer["maintenance"] is True
    assert answer["reason"] == START["reason"] and answer["eta"] == START["eta"]
    assert answer["eta_at"] == ETA_AT.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("accept", "json_answer"),
    [
        ("text/html;q=0.5, application/json", True),
        ("application/json, text/plain, */*", True),
        ("text/html, application/json", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("*/*", False),
    ],
)
def test_json_only_when_accept_prefers_it(maintained, accept, json_answer):
    lb, _result = maintained
    status, headers, _text = get(lb, "/x", headers={"Accept": accept})
    assert status == 503
    assert headers["content-type"].startswith("application/json") is json_answer


@pytest.mark.parametrize("path", ASSETS)
def test_assets_answer_200_with_short_caching(maintained, path):
    lb, _result = maintained
    status, headers, _text = get(lb, path)
    assert status == 200
    assert headers["cache-control"] == "max-age=60"
    assert "retry-after" not in headers


def test_status_document_is_small_and_never_stored(maintained):
    lb, _result = maintained
    status, headers, text = get(lb, STATUS_DOCUMENT)
    assert status == 200 and headers["cache-control"] == "no-store"
    assert len(text.encode()) < 400
    state = json.loads(text)
    assert state["maintenance"] is True and state["reason"] == START["reason"]
    assert state["poll_s"] == 2


def test_bypass_by_source_cidr(maintained):
    lb, _result = maintained
    status, _headers, text = get(lb, "/checkout/cart?id=1", source="127.0.0.2")
    assert status == 200 and text.startswith("APP ")
    for source in ("127.0.0.1", "127.0.0.3"):
        assert is_page(*get(lb, "/checkout/cart?id=1", source=source)[::2])


@pytest.mark.parametrize(
    ("headers", "bypassed"),
    [
        ({"Cookie": f"maintenance_bypass={BYPASS_SECRET}"}, True),
        ({"Cookie": f"other=1; maintenance_bypass={BYPASS_SECRET}"}, True),
        ({"X-Maintenance-Bypass": BYPASS_SECRET}, True),
        ({"Cookie": "maintenance_bypass=guess"}, False),
        ({"Cookie": f"maintenance_bypass={BYPASS_SECRET}x"}, False),
        ({"X-Maintenance-Bypass": ""}, False),
    ],
)
def test_bypass_by_secret_cookie_or_header(maintained, headers, bypassed):
    lb, _result = maintained
    status, _headers, text = get(lb, "/deep/link?x=1", headers=headers)
    assert (status == 200 and text.startswith("APP ")) is bypassed
    assert is_page(status, text) is not bypassed


def test_result_and_status_show_bypass_never_the_secret(maintained, salt_cli):
    _lb, result = maintained
    assert result["bypass"] == ["127.0.0.2/32"] and result["visitor"] == "applied"
    assert result["eta_at"] == ETA_AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    status = salt_cli.run("haproxy_maint.status", minion_tgt="lb1").data
    assert status["bypass"] == ["127.0.0.2/32"] and status["bypass_secret"] is True
    config = salt_cli.run("haproxy_maint.config", minion_tgt="lb1").data
    assert BYPASS_SECRET not in json.dumps([result, status, config])


def worker_pid(lb):
    info = runtime_command(lb.socket, "show info")
    return next(int(line.split()[1]) for line in info.splitlines() if line.startswith("Pid:"))


def reloaded(lb, old_pid):
    try:
        return worker_pid(lb) != old_pid
    except (OSError, StopIteration):
        return False


@pytest.mark.parametrize("how", ["reload", "restart"])
def test_bypass_survives_reload_and_restart_and_goes_with_stop(maintained, salt_cli, how):
    lb, _result = maintained
    old = worker_pid(lb)
    if how == "reload":
        assert lb.supervisorctl("signal", "USR2", "haproxy").returncode == 0
    else:
        assert lb.supervisorctl("restart", "haproxy").returncode == 0
    wait_for(lambda: reloaded(lb, old), SWITCH_TIMEOUT, f"haproxy's {how}")
    wait_for(lambda: serves_page(lb, "app"), SWITCH_TIMEOUT, f"the page after the {how}")
    status, _headers, text = get(lb, "/after/reload", source="127.0.0.2")
    assert status == 200 and text.startswith("APP ")
    assert is_page(*get(lb, "/after/reload")[::2])
    assert get(lb, "/x", method="HEAD")[1]["retry-after"].endswith(" 2099 03:04:05 GMT")

    stop(salt_cli, "lb1")
    acl_file = lb.pillar()["haproxy_maint"]["visitor"]["bypass_file"]
    assert runtime_command(lb.socket, f"show acl {acl_file}").strip() == ""
    start(salt_cli, "lb1", bypass=None)
    assert is_page(*get(lb, "/after/stop", source="127.0.0.2")[::2])


def test_a_highstate_puts_a_lost_bypass_back(maintained, salt_cli):
    """The record is what counts: a bypass lost from HAProxy and its file (cleared by hand)
    comes back with the next highstate, like a server taken out of MAINT by hand."""
    lb, _result = maintained
    acl_file = lb.pillar()["haproxy_maint"]["visitor"]["bypass_file"]
    runtime_command(lb.socket, f"clear acl {acl_file}")
    Path(acl_file).write_text("")
    assert is_page(*get(lb, "/", source="127.0.0.2")[::2])
    ret = salt_cli.run("state.apply", minion_tgt="lb1", _timeout=HIGHSTATE_TIMEOUT)
    assert ret.returncode == 0, ret.stdout
    status, _headers, text = get(lb, "/after/highstate", source="127.0.0.2")
    assert status == 200 and text.startswith("APP ")
    assert is_page(*get(lb, "/after/highstate")[::2])


def test_stop_brings_the_app_back_untouched(maintained, salt_cli):
    lb, _result = maintained
    stop(salt_cli, "lb1")
    wait_for(lambda: serves_app(lb, "app"), SWITCH_TIMEOUT, "the app back")
    status, headers, text = get(lb, STATUS_DOCUMENT)
    assert status == 200 and text.startswith("APP "), "the prefix is the app's again"
    assert "retry-after" not in headers and "cache-control" not in headers


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/", {}),
        ("/.maintenance/css/maintenance.css", {}),
        ("/maintenance.json?x=1", {"Accept": "application/json"}),
        ("/", {"Cookie": f"maintenance_bypass={BYPASS_SECRET}"}),
        ("/deep", {"X-Maintenance-Bypass": BYPASS_SECRET, "If-Modified-Since": "x"}),
    ],
)
def test_nothing_changes_for_the_app_outside_maintenance(clean_cluster, app_servers, path, headers):
    """Same status, body and header names through the LB as straight from the app server."""
    lb = clean_cluster["lb1"]
    through = get(lb, path, headers=headers)
    app = next(server for name, server in app_servers.items() if through[2].endswith(f"{name}\n"))
    direct = http_request(f"http://{app.address}{path}", headers=headers)
    assert through[0] == direct[0] == 200
    assert through[2] == direct[2]
    # Hop-by-hop headers are the connection's (HAProxy speaks HTTP/1.1 to the client).
    assert set(through[1]) - HOP_BY_HOP == set(direct[1]) - HOP_BY_HOP


class JunkServer:
    """A TCP server that answers anything with bytes that are not HTTP (a sorry server gone
    wrong mid-request): HAProxy's own 502 situation."""

    def __init__(self, port):
        self.sock = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping.is_set():
            try:
                conn, _address = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(65536)
                    conn.sendall(JUNK_ANSWER)
                except OSError:
                    pass

    def close(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()


def sorry_status(lb):
    stat = runtime_command(lb.socket, "show stat").splitlines()
    rows = [line.split(",") for line in stat if line.startswith("app,localhost,")]
    return rows[0][17] if rows else ""


def test_a_broken_sorry_server_gives_the_503_page_not_a_502(maintained):
    """A file HAProxy does not hold (not in the page when it started) reaches the junk
    server."""
    lb, _result = maintained
    assert lb.supervisorctl("stop", "http-server").returncode == 0
    junk = None
    try:
        junk = JunkServer(lb.ports["sorry"])
        wait_for(lambda: sorry_status(lb) == "UP", SWITCH_TIMEOUT, "the junk sorry server UP")
        status, headers, text = get(lb, "/.maintenance/never-asked-for.css")
        assert status == 503, (status, text[:200])
        assert "temporarily unavailable" in text and headers["cache-control"] == "no-store"
    finally:
        if junk is not None:
            junk.close()
        lb.supervisorctl("start", "http-server")
    wait_for(lambda: serves_page(lb, "app"), SWITCH_TIMEOUT, "the page from the sorry server")
    assert PAGE_MARK in get(lb, "/")[2]


# --- the page under a whole site's traffic (issue 19): HAProxy's memory -----------------------

# The Lua task reads the status document every 50 ms; the rest is a slow machine's.
FRESH_TIMEOUT = 1 + 4
BIG_PAGE_BYTES = 60 * 1024


def json_state(lb, path="/any/path"):
    status, _headers, text = get(lb, path, headers={"Accept": "application/json"})
    return json.loads(text) if status == 503 else {}


def status_map(lb):
    """What HAProxy's status map holds (the Lua task's copy of visitor:status_file)."""
    path = lb.pillar()["haproxy_maint"]["visitor"]["status_map_file"]
    return runtime_command(lb.socket, f"show map {path}")


def test_a_new_reason_and_eta_show_when_the_start_returns(maintained, salt_cli):
    """A start returns once HAProxy holds its status document (its Lua task reads the file
    every 50 ms): the next visitor gets the new reason, as JSON and on the page's poll."""
    lb, _result = maintained
    assert json_state(lb)["reason"] == START["reason"]
    start(salt_cli, "lb1", reason="Index rebuild", eta="in 5 minutes")
    assert json_state(lb)["reason"] == "Index rebuild"
    assert json_state(lb)["eta"] == "in 5 minutes"
    assert json.loads(get(lb, STATUS_DOCUMENT)[2])["reason"] == "Index rebuild"
    stop(salt_cli, "lb1")
    assert '"active":false' in status_map(lb), "the stop in HAProxy's copy too"
    wait_for(lambda: serves_app(lb, "app"), SWITCH_TIMEOUT, "the app after stop")


def test_the_page_and_its_json_survive_a_sorry_server_that_stays_down(maintained, salt_cli):
    """supervisord gave up: the page, its JSON, assets and status document come from
    HAProxy's memory, and a new reason still shows (the Lua task reads the file, not the
    sorry server)."""
    lb, _result = maintained
    paths = ("/deep/link?x=1", STATUS_DOCUMENT, *ASSETS)
    before = {path: get(lb, path)[2] for path in paths}
    assert json_state(lb)["reason"] == START["reason"]
    assert lb.supervisorctl("stop", "http-server").returncode == 0
    try:
        wait_for(lambda: sorry_status(lb) == "DOWN", SWITCH_TIMEOUT, "the sorry server DOWN")
        status, headers, text = get(lb, "/another/path?y=2")
        assert is_page(status, text) and text == before["/deep/link?x=1"]
        assert headers["cache-control"] == "no-store" and "retry-after" in headers
        state = json_state(lb)
        assert state["maintenance"] is True and state["reason"] == START["reason"]
        for path in (STATUS_DOCUMENT, *ASSETS):
            status, _headers, text = get(lb, path)
            assert status == 200 and text == before[path], path
        start(salt_cli, "lb1", reason="Still down, still shown")
        wait_for(
            lambda: json_state(lb).get("reason") == "Still down, still shown",
            FRESH_TIMEOUT,
            "the new reason with the sorry server down",
        )
    finally:
        lb.supervisorctl("start", "http-server")
    wait_for(lambda: sorry_status(lb) == "UP", SWITCH_TIMEOUT, "the sorry server UP again")


def test_a_60_kb_page_file_is_served_whole_from_memory(maintained, salt_cli):
    """Inline CSS and an inline image, about 60 KB, added to the page: the highstate gives
    HAProxy a buffer that holds it, and every answer is the whole file."""
    lb, _result = maintained
    image = base64.b64encode(bytes(range(256)) * 120).decode()
    css = "".join(f".r{n} {{ margin: {n % 7}px; }}\n" for n in range(300))
    page = f"<html><style>{css}</style><img src='data:image/png;base64,{image}'>"
    page = page + " " * (BIG_PAGE_BYTES - len(page)) + "</html>\n"
    settings = lb.pillar()["haproxy_maint"]
    big = Path(settings["page"]["root"]) / "big.html"
    big.write_text(page)
    try:
        ret = salt_cli.run("state.apply", minion_tgt="lb1", _timeout=HIGHSTATE_TIMEOUT)
        assert ret.returncode == 0, ret.stdout
        config = Path(settings["haproxy"]["config_file"]).read_text()
        bufsize = int(re.search(r"\n  tune.bufsize (\d+)\n", config).group(1))
        assert len(page) < bufsize <= len(page) + 8192, "a buffer that holds it, no more"
        answers = [get(lb, "/.maintenance/big.html") for _ in range(5)]
        assert {(status, len(text.encode())) for status, _h, text in answers} == {(200, len(page))}
        assert all(text == page for _s, _h, text in answers)
        assert lb.supervisorctl("stop", "http-server").returncode == 0
        try:
            wait_for(lambda: sorry_status(lb) == "DOWN", SWITCH_TIMEOUT, "the sorry server DOWN")
            assert get(lb, "/.maintenance/big.html")[2] == page, "from HAProxy's memory"
        finally:
            lb.supervisorctl("start", "http-server")
    finally:
        big.unlink()
        ret = salt_cli.run("state.apply", minion_tgt="lb1", _timeout=HIGHSTATE_TIMEOUT)
    assert ret.returncode == 0, ret.stdout
    assert "big.html" not in Path(settings["haproxy"]["config_file"]).read_text()
