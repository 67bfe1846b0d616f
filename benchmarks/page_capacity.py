"""Page capacity under a whole site's traffic: the maintenance page through the product, next
to HAProxy's own speed for the same file, and next to the reference setup.

Three HAProxys on this machine, each on its own loopback ports, measured one after the other
in the same run (issue 19):

- ``product``: haproxy.cfg rendered by this state tree (``salt-call --local state.sls
  haproxy_maint.haproxy.config,haproxy_maint.page``, a sandbox pillar), its backend in
  maintenance (the maintenance map loaded at start), the page deployed by the page SLS, and
  the npm sorry server on its port, started with the command line supervisord runs.
- ``limit``: a second haproxy answering the same files with ``http-request return ... file``
  (HAProxy's own speed for a file it holds in memory), with the same TLS certificate and the
  ``tune.bufsize`` of the product's rendered haproxy.cfg (none when it sets none). HAProxy
  will not start with a ``return`` of a file larger than its buffer: the limit leaves such a
  file out, and that answer is measured through the product alone, the line saying why.
- ``reference``: the seed's setup: the reference ``default-server`` line, the app server in
  MAINT and the same sorry server as a plain ``backup``, no rules.

For HTTP and HTTPS (keep-alive), ``wrk`` runs ``--duration`` seconds per point. The ratio is
the median of ``--rounds`` back-to-back pairs (limit, then the setup) at 64 connections; at
1,200 connections and at the LB's ``maxconn`` a wrk script counts every answer that is the
whole page (its exact size and heading), every other answer and every socket error.

Over HTTPS, wrk opens all its connections at once and each starts with a TLS handshake: at
4,096 connections they take some 4 s of this machine's two cores, so a 3 s point ended before
the first page (wrk reported 0 requests, or only timeouts) and measured nothing. HTTPS points
from 1,200 connections up run ``--tls-burst-duration`` seconds (default 15): the handshake
rush, then the pages over the open connections, which is what the point is for (can every
visitor of a crowd get the whole page). Their req/s is the whole run's, the rush included,
so it is below the steady rate; the counts of whole pages, other answers and socket errors
are the figures to read there.

The other answers, over HTTP and HTTPS at 64 connections, each in pairs against the limit
answering the same path with the same file: the JSON answer (``Accept: application/json``),
the status document, the stylesheet (``asset``) and the largest file shipped, the font
(``asset_font``, 27 KB: over HAProxy's default buffer). wrk counts any answer, so one request
to each side first records its status and size; a line says so where one is not the whole
file.

Last, a 60 KB page (inline CSS and an image), deployed as an operator deploys a page of their
own: an archive in ``page:archive``, the same state run, then the product haproxy restarted
(HAProxy reads the page's files at start, and the larger page needs a larger
``tune.bufsize``), and the limit restarted with the bufsize of the re-rendered config. When
the state run refuses the page (too large for the product's limits), that refusal is printed
as the result.

Prints, per protocol and setup: ``page_rps limit_rps ratio full_pages_at_1200 p99_ms`` (p99 at
1,200 connections); per protocol and kind: ``<kind>_rps limit_rps ratio``; for the 60 KB page:
``page_60k_rps page_bytes full_pages_at_1200 limit_rps ratio``, or the state run's refusal.
The target (ratio >= 0.8, every answer a whole page at 1,200 and at maxconn) is printed
beside the figures, never asserted. ``--json`` keeps every point for benchmarks/report.py,
which plots req/s and p99 against connections.
"""

import argparse
import base64
import hashlib
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.wrk_load import FULL_PAGE_SCRIPT, WRK, full_share, wrk
from harness.converge import failed_states, salt_call, write_minion_config
from harness.haproxy import HAPROXY, free_port, stop_pid, wait_for
from harness.sandbox import PAGE_MARK, http_get, http_request

REPO = Path(__file__).resolve().parents[1]
SORRY_SERVER = REPO / "node_modules/.bin/http-server"
STATE_SLS = "haproxy_maint.haproxy.config,haproxy_maint.page"
MAXCONN = 4096
CONNECTIONS = (16, 64, 256, 1200, MAXCONN)
RATIO_CONNECTIONS = 64
FULL_PAGE_CONNECTIONS = 1200
DEFAULT_DURATION = 3
DEFAULT_ROUNDS = 3
# Seconds per HTTPS point from 1,200 connections up: the handshakes take seconds of CPU
# first (some 4 s for 4,096 here), and the answers after them are the point.
DEFAULT_TLS_BURST_DURATION = 15
START_TIMEOUT = 15.0
TARGET_RATIO = 0.8
# HAProxy's tune.bufsize when the config sets none; it refuses to start with an
# ``http-request return ... file`` larger than the buffer.
HAPROXY_BUFSIZE = 16384
TUNE_BUFSIZE = re.compile(r"^\s*tune\.bufsize\s+(\d+)\s*$", re.MULTILINE)
# A page of real size: inline CSS and an inline image, about 60 KB.
BIG_PAGE_CSS_RULES = 400
BIG_PAGE_IMAGE_BYTES = 42_000
SETUPS = ("product", "limit", "bare", "reference")
# The product's global and defaults lines that the limit leaves out: its runtime socket and
# state file (the product's own), its Lua task (no part of an answer).
NOT_SHARED = ("stats socket", "server-state-file", "load-server-state-from-file", "lua-load")
# The bare limit: HAProxy's return with nothing else (no log, HAProxy's own buffers).
BARE_SETTINGS = """\
global
  maxconn {maxconn}
{tune}
defaults
  mode http
  timeout connect 5s
  timeout client 50s
  timeout server 50s"""
PROTOCOLS = ("http", "https")
# The other answers of the page: (name, path, Accept, file under the page root). The limit
# answers the same path with the same file; the font is the largest file shipped.
KINDS = (
    ("json", "/api/v1/orders", "application/json", "maintenance.json"),
    ("status", "/.maintenance/maintenance.json", "", "maintenance.json"),
    ("asset", "/.maintenance/css/maintenance.css", "", "css/maintenance.css"),
    ("asset_font", "/.maintenance/font/dejavu-sans.woff", "", "font/dejavu-sans.woff"),
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css",
    ".woff": "font/woff",
    ".svg": "image/svg+xml",
}

LIMIT_CONFIG = """\
{settings}
frontend limit
  bind 127.0.0.1:{http}
  bind 127.0.0.1:{https} ssl crt {pem} alpn h2,http/1.1
{returns}
"""

REFERENCE_CONFIG = """\
global
  maxconn {maxconn}
defaults
  mode http
  timeout connect 5s
  timeout client 50s
  timeout server 50s
  timeout queue 30s
  retries 3
  option redispatch
  default-server inter 10s downinter 5s rise 2 fall 2 slowstart 60s maxconn 250 maxqueue 256 \
weight 100 error-limit 1 on-error mark-down
  errorfile 503 /dev/null
frontend app
  bind 127.0.0.1:{http}
  bind 127.0.0.1:{https} ssl crt {pem} alpn h2,http/1.1
  default_backend app
backend app
  server app1 127.0.0.1:{dead} check observe layer7 disabled
  server localhost 127.0.0.1:{sorry} maxconn 500 backup
"""


class Bench:
    """The three setups' processes under one temp dir, stopped by PID."""

    def __init__(self, root):
        self.root = root
        self.www = root / "www"
        self.ports = {f"{s}_{p}": free_port() for s in SETUPS for p in PROTOCOLS}
        self.ports.update(sorry=free_port(), dead=free_port())
        self.procs = {}

    # --- setting up ------------------------------------------------------------------------

    def pillar(self, page_archive=None):
        """The sandbox pillar; ``page_archive`` (``{source, source_hash}``) as ``page:archive``."""
        d = self.root
        return {
            "haproxy_maint": {
                "env": "bench",
                "haproxy": {
                    "config_file": f"{d}/haproxy.cfg",
                    "errors_dir": f"{d}/errors",
                    "server_state_file": f"{d}/server-state",
                    "chroot": "",
                    "maxconn": MAXCONN,
                    "runtime": {"socket": f"{d}/admin.sock"},
                    "backends": {
                        "app": {
                            "servers": {"app1": f"127.0.0.1:{self.ports['dead']}"},
                            "bind": {
                                "http": f"127.0.0.1:{self.ports['product_http']}",
                                "https": f"127.0.0.1:{self.ports['product_https']}",
                            },
                        }
                    },
                },
                "tls": {"cert_file": f"{d}/certs/site.pem"},
                "page": {
                    "root": str(self.www),
                    "user": "root",
                    "group": "root",
                    "archive": page_archive or {},
                },
                "sorry_server": {"port": self.ports["sorry"]},
                "visitor": {
                    "map_file": f"{d}/visitor/maintenance.map",
                    "paths_map_file": f"{d}/visitor/paths.map",
                    "status_file": f"{d}/visitor/status.json",
                    "status_map_file": f"{d}/visitor/status.map",
                    "lua_file": f"{d}/haproxy-maint.lua",
                    "bypass_file": f"{d}/visitor/bypass.acl",
                    "bypass": {"secret_file": f"{d}/visitor/bypass-secret.acl"},
                },
            }
        }

    def apply_states(self, page_archive=None):
        """Render the product's config and page through the state tree, maintenance on;
        ``{state: why}`` of what failed (empty when everything applied)."""
        config_dir = write_minion_config(self.root / "salt", "lb-bench-1")
        pillar = self.pillar(page_archive)
        code, result = salt_call(config_dir, "state.sls", STATE_SLS, pillar=pillar)
        if not isinstance(result, dict):  # the SLS did not render: salt-call lists why
            return {"render": "; ".join(map(str, result))}
        failed = failed_states(result)
        if code != 0 and not failed:
            failed = {"salt-call": f"exited with {code}"}
        if not failed:
            (self.root / "visitor/maintenance.map").write_text("app 0\n")
            status = (self.www / "maintenance.json").read_text().strip()
            self.status_answer.write_text(status)
        return failed

    def render(self):
        """The product's config and page as shipped; the TLS certificate's path."""
        failed = self.apply_states()
        if failed:
            raise SystemExit(f"the state tree did not render the product: {failed}")
        # Self-signed: HAProxy finds the key beside it (site.pem.key), in every setup.
        return self.root / "certs/site.pem"

    def start_haproxy(self, name, config=None):
        """Start haproxy with ``config``; without one, the config the state tree rendered."""
        path = self.root / (f"{name}.cfg" if config else "haproxy.cfg")
        if config:
            path.write_text(config)
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen([HAPROXY, "-W", "-db", "-f", str(path)], stderr=log)
        self.procs[name] = proc
        port = self.ports[f"{name}_http"]
        wait_for(lambda: self._answers(proc, port, name), START_TIMEOUT, f"{name} haproxy")

    def _answers(self, proc, port, name):
        if proc.poll() is not None:
            log = (self.root / f"{name}.log").read_text(errors="replace")
            raise SystemExit(f"{name} haproxy exited with {proc.returncode}: {log[-2000:]}")
        return http_get(f"http://127.0.0.1:{port}/")[0] in (200, 503)

    def start_sorry_server(self):
        command = [str(SORRY_SERVER), "-a", "127.0.0.1", "-p", str(self.ports["sorry"])]
        command += ["-r", "-c", "3600", f"{self.www}/"]
        log = open(self.root / "http-server.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(command, stdout=log, stderr=log)
        self.procs["sorry"] = proc
        url = f"http://127.0.0.1:{self.ports['sorry']}/"
        wait_for(lambda: http_get(url)[0] == 200, START_TIMEOUT, "the sorry server")

    @property
    def status_answer(self):
        """The status document as the product answers it (one line, no line break after: its
        Lua task keeps the JSON object), for the limit to return the same bytes; written by
        :py:meth:`apply_states`."""
        return self.root / "status-answer.json"

    def limit_file(self, name):
        return self.status_answer if name == "maintenance.json" else self.www / name

    def start_limit(self, pem, files, name="limit"):
        """(Re)start the limit with the ``tune.bufsize`` of the product's rendered haproxy.cfg
        (none when it sets none), answering each of ``files`` (``[(path, file)]``) with
        ``http-request return``. A file larger than that buffer is left out (HAProxy would
        refuse to start); returns ``{path: why}`` for those."""
        if name in self.procs:
            self.stop(name)
        bufsize = rendered_bufsize(self.root / "haproxy.cfg")
        buffer = bufsize or HAPROXY_BUFSIZE
        held, left_out = [], {}
        for path, file in files:
            size = self.limit_file(file).stat().st_size
            if size <= buffer:
                held.append((path, file))
            else:
                left_out[path] = f"the limit cannot hold {file}: {size} B > tune.bufsize {buffer}"
        self.start_haproxy(name, self.limit_config(pem, held, bufsize, name))
        return left_out

    def limit_config(self, pem, files, bufsize, name="limit"):
        """``http-request return`` of each file (``files``: ``[(path, file)]``), with the
        product's own global and defaults (its log, buffers, timeouts), or, for ``bare``,
        nothing else."""
        returns = []
        for path, file in files:
            content_type = CONTENT_TYPES[Path(file).suffix]
            status = 200 if path.startswith("/.maintenance/") else 503
            returns.append(
                f'  http-request return status {status} content-type "{content_type}"'
                f" file {self.limit_file(file)} hdr Retry-After 300 hdr Cache-Control no-store"
                f" if {{ path {path} }}"
            )
        if name == "bare":
            tune = f"  tune.bufsize {bufsize}" if bufsize else ""
            settings = BARE_SETTINGS.format(maxconn=MAXCONN, tune=tune)
        else:
            settings = shared_settings((self.root / "haproxy.cfg").read_text())
        return LIMIT_CONFIG.format(
            settings=settings,
            http=self.ports[f"{name}_http"],
            https=self.ports[f"{name}_https"],
            pem=pem,
            returns="\n".join(returns),
        )

    def reference_config(self, pem):
        return REFERENCE_CONFIG.format(
            maxconn=MAXCONN,
            http=self.ports["reference_http"],
            https=self.ports["reference_https"],
            pem=pem,
            dead=self.ports["dead"],
            sorry=self.ports["sorry"],
        )

    def answers(self, protocol, path, accept, setups):
        """``{setup: {status, bytes}}`` of one request for ``path`` to each of ``setups``
        (bytes from Content-Length, -1 without): wrk counts any answer, these show which."""
        headers = {"Accept": accept} if accept else {}
        found = {}
        for setup in setups:
            status, got, _body = http_request(self.url(setup, protocol, path), headers=headers)
            found[setup] = {"status": status, "bytes": int(got.get("content-length", -1))}
        return found

    def stop(self, name=None):
        for key in [name] if name else list(self.procs):
            stop_pid(self.procs.pop(key))

    def url(self, setup, protocol, path="/"):
        return f"{protocol}://127.0.0.1:{self.ports[f'{setup}_{protocol}']}{path}"


def shared_settings(config):
    """The global and defaults sections of the product's haproxy.cfg (text), without comments
    and without the lines of NOT_SHARED."""
    kept, section = [], None
    for line in config.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            section = line.split()[0]
            if section in ("global", "defaults"):
                kept.append(line)
            continue
        words = line.split("#", 1)[0].strip()
        if section in ("global", "defaults") and words and not words.startswith(NOT_SHARED):
            kept.append(f"  {words}")
    return "\n".join(kept)


def rendered_bufsize(config):
    """The ``tune.bufsize`` of haproxy.cfg at ``config``; None when it sets none."""
    match = TUNE_BUFSIZE.search(config.read_text()) if config.exists() else None
    return int(match.group(1)) if match else None


# --- measuring -------------------------------------------------------------------------------


def ratio_pairs(
    bench, setup, protocol, duration, rounds, path="/", accept="", no_limit=None, against="limit"
):
    """Back-to-back pairs (the limit ``against``, then ``setup``) at 64 connections, both
    asked ``path``; the median ratio. With ``no_limit`` (why the limit cannot answer),
    ``setup`` alone."""
    pairs = []
    for _ in range(rounds):
        limit = None
        if not no_limit:
            url = bench.url(against, protocol, path)
            limit = wrk(url, RATIO_CONNECTIONS, duration, accept)
        ours = wrk(bench.url(setup, protocol, path), RATIO_CONNECTIONS, duration, accept)
        pairs.append((ours["rps"], limit and limit["rps"]))
    figures = {"rps": statistics.median(p[0] for p in pairs), "pairs": pairs}
    if no_limit:
        return {**figures, "limit_rps": None, "ratio": None, "no_limit": no_limit}
    return {
        **figures,
        "limit_rps": statistics.median(p[1] for p in pairs),
        "ratio": round(statistics.median(p[0] / p[1] for p in pairs), 3),
    }


def versus_limit(figures):
    """``limit_rps=... ratio=...`` of a line; why not, where the limit cannot answer."""
    if figures["ratio"] is None:
        return f"limit_rps=- ratio=- ({figures['no_limit']})"
    return f"limit_rps={figures['limit_rps']:.0f} ratio={figures['ratio']:.2f}"


def point_duration(protocol, connections, args):
    """Seconds of one curve point: ``--tls-burst-duration`` over HTTPS from 1,200 connections
    up (every connection's TLS handshake comes first), ``--duration`` for the rest."""
    if protocol == "https" and connections >= FULL_PAGE_CONNECTIONS:
        return max(args.duration, args.tls_burst_duration)
    return args.duration


def curve(bench, setup, protocol, args, script, page_bytes, levels):
    """req/s and p99 against connections; whole pages counted from 1,200 connections up."""
    env = {"PAGE_BYTES": str(page_bytes), "PAGE_MARK": PAGE_MARK}
    points = {}
    for connections in levels:
        counted = script if connections >= FULL_PAGE_CONNECTIONS else None
        duration = point_duration(protocol, connections, args)
        point = wrk(bench.url(setup, protocol), connections, duration, script=counted, env=env)
        points[connections] = {**point, "duration_s": duration}
    return points


def big_page_archive(path):
    """A page archive as an operator ships one (``page:archive``), at ``path``: its
    maintenance.html of about 60 KB (inline CSS, an inline image). Returns its pillar."""
    html = big_page_html().encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("maintenance.html")
        info.size = len(html)
        tar.addfile(info, io.BytesIO(html))
    source_hash = "sha256=" + hashlib.sha256(path.read_bytes()).hexdigest()
    return {"source": f"file://{path}", "source_hash": source_hash}


def big_page_html():
    """A page of about 60 KB: inline CSS and an inline image."""
    image = base64.b64encode(os.urandom(BIG_PAGE_IMAGE_BYTES)).decode()
    css = "".join(f".r{n} {{ margin: {n % 7}px; }}\n" for n in range(BIG_PAGE_CSS_RULES))
    return textwrap.dedent(f"""\
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Scheduled maintenance</title>
        <style>{css}</style></head>
        <body><h1>We're {PAGE_MARK}</h1>
        <img alt="" src="data:image/png;base64,{image}"></body></html>
        """)


def kind_line(protocol, kind, figures):
    """One line per protocol and kind; a note where an answer is not the whole file."""
    line = f"{protocol:5} product   {kind}_rps={figures['rps']:.0f} {versus_limit(figures)}"
    size = figures["file_bytes"]
    wrong = [
        f"{setup} answered {answer['status']} with {answer['bytes']} B"
        for setup, answer in figures["answers"].items()
        if answer["bytes"] != size
    ]
    return line + (f" (not the file's {size} B: {'; '.join(wrong)})" if wrong else "")


def report_line(protocol, setup, figures):
    at = figures["curve"][FULL_PAGE_CONNECTIONS]
    return (
        f"{protocol:5} {setup:9} page_rps={figures['rps']:.0f} "
        f"limit_rps={figures['limit_rps']:.0f} ratio={figures['ratio']:.2f} "
        f"full_pages_at_1200={full_share(at)} p99_ms={at['p99_ms']:.1f}"
    )


def run(bench, args):
    pem = bench.render()
    page_bytes = (bench.www / "index.html").stat().st_size
    files = [("/", "index.html")] + [(path, name) for _kind, path, _a, name in KINDS]
    bench.start_sorry_server()
    bench.start_haproxy("product")
    left_out = bench.start_limit(pem, files)
    bench.start_limit(pem, [("/", "index.html")], name="bare")
    bench.start_haproxy("reference", bench.reference_config(pem))
    script = bench.root / "full_pages.lua"
    script.write_text(FULL_PAGE_SCRIPT)
    levels = sorted({*args.connections, FULL_PAGE_CONNECTIONS})
    results = {"page_bytes": page_bytes, "maxconn": MAXCONN, "duration_s": args.duration}
    results["tls_burst_duration_s"] = args.tls_burst_duration
    results["limit_bufsize"] = rendered_bufsize(bench.root / "haproxy.cfg")
    for protocol in PROTOCOLS:
        for setup in ("product", "reference"):
            figures = ratio_pairs(bench, setup, protocol, args.duration, args.rounds)
            figures["curve"] = curve(bench, setup, protocol, args, script, page_bytes, levels)
            results[f"{protocol}_{setup}"] = figures
            print(report_line(protocol, setup, figures), flush=True)
        results[f"{protocol}_limit"] = {
            "curve": curve(bench, "limit", protocol, args, script, page_bytes, levels)
        }
        bare = ratio_pairs(bench, "product", protocol, args.duration, args.rounds, against="bare")
        results[f"{protocol}_product_vs_bare"] = bare
        print(
            f"{protocol:5} product   page_rps={bare['rps']:.0f} bare_rps={bare['limit_rps']:.0f}"
            f" ratio={bare['ratio']:.2f} (against a bare return: no log, nothing else)",
            flush=True,
        )
    for protocol in PROTOCOLS:
        for kind, path, accept, name in KINDS:
            figures = ratio_pairs(
                bench,
                "product",
                protocol,
                args.duration,
                args.rounds,
                path=path,
                accept=accept,
                no_limit=left_out.get(path),
            )
            setups = ("product",) if path in left_out else ("product", "limit")
            figures["answers"] = bench.answers(protocol, path, accept, setups)
            figures["file_bytes"] = bench.limit_file(name).stat().st_size
            results[f"{protocol}_product_{kind}"] = figures
            print(kind_line(protocol, kind, figures), flush=True)
    results["big_page"] = measure_big_page(bench, pem, args)
    return results


def measure_big_page(bench, pem, args):
    """A 60 KB page deployed as an operator does it (an archive in pillar, the state run,
    then a restart: HAProxy may read the page at start), through the product and the limit
    with the re-rendered tune.bufsize; the state run's refusal instead, if it refuses it."""
    page_archive = big_page_archive(bench.root / "big-page.tar.gz")
    failed = bench.apply_states(page_archive)
    if failed:
        why = "; ".join(f"{state}: {comment}" for state, comment in failed.items())
        print(f"http  product   page_60k refused by the state run: {why}", flush=True)
        return {"refused": failed}
    size = (bench.www / "index.html").stat().st_size
    bench.stop("product")
    bench.start_haproxy("product")
    left_out = bench.start_limit(pem, [("/", "index.html")])
    figures = ratio_pairs(
        bench, "product", "http", args.duration, args.rounds, no_limit=left_out.get("/")
    )
    script = bench.root / "full_pages.lua"
    env = {"PAGE_BYTES": str(size), "PAGE_MARK": PAGE_MARK}
    at = wrk(bench.url("product", "http"), FULL_PAGE_CONNECTIONS, args.duration, "", script, env)
    figures.update(page_bytes=size, at_1200=at)
    figures["limit_bufsize"] = rendered_bufsize(bench.root / "haproxy.cfg")
    print(
        f"http  product   page_60k_rps={figures['rps']:.0f} page_bytes={size}"
        f" full_pages_at_1200={full_share(at)} {versus_limit(figures)}"
    )
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=DEFAULT_DURATION, help="s per point")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="pairs per ratio")
    parser.add_argument(
        "--tls-burst-duration",
        type=int,
        default=DEFAULT_TLS_BURST_DURATION,
        help="s per HTTPS point from 1,200 connections up (the handshakes come first)",
    )
    parser.add_argument(
        "--connections", type=int, nargs="+", default=list(CONNECTIONS), help="curve points"
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    if not shutil.which(WRK):
        raise SystemExit("wrk is not installed (make setup installs it)")
    root = Path(tempfile.mkdtemp(prefix="page-capacity-"))
    bench = Bench(root)
    try:
        results = run(bench, args)
    finally:
        bench.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"target: ratio >= {TARGET_RATIO}, every answer a whole page at 1200 and {MAXCONN}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
