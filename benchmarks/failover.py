"""Failover latency of a real cluster: ``maint/start`` -> every LB serves the page, and back.

Starts a local Salt cluster (harness/cluster.py): a master with the reactor, N LB
minions each with its own haproxy, sorry server and supervisord, an ``ops`` minion. Over
``--rounds`` rounds it fires ``maint/start`` and ``maint/stop`` from the ops minion (in-process
``event.send``, the path ``salt-call event.send`` takes once its process is up) and times,
from the moment the event is fired, until EVERY LB answers with the page (start) or the app
(stop), polling each LB's frontend. A load of one request per LB every 50 ms runs all the
time; every answer is counted as app, page or failed.

In the same run, on the same minions and under the same load (the request load and the
pollers), Salt's own floor: before every switch, a bare ``test.ping`` fan-out to the LBs in one
publish (``LocalClient.cmd`` with the runner's timeouts), timed until every LB returned.
``overhead`` is the switches' p50 over the pings' p50.

CPU: the utime+stime (with reaped children) of every process in the salt-master's session
and in each LB minion's session (each daemon leads its own), read from /proc before and after
every switch and every ping; given per LB and per switch (a maint/start or a maint/stop), so
the figure holds for hardware where each LB has its own CPU. What the daemons use with no job
running (per second, under the same load) is measured once and printed beside it.

The daemons run without ``PYTHONDONTWRITEBYTECODE`` (this machine's shell sets it), as a
service manager starts them: with it, every job process compiles our modules again from
source (Salt's own modules, test.ping's too, come precompiled with the package).

Also in the same run, the baseline: the reference setup's own failover on one LB, a plain
haproxy with the reference ``default-server inter 10s downinter 5s rise 2 fall 2`` health
checks and ``errorfile 503 /dev/null``, its app server made unreachable at t0, timed until the
page is served, under the same load.

``--candidate-runners DIR`` runs the master with another copy of ``_runners`` (a proposed
change), to measure it the same way.

Last line: ``lbs=N p50_s=.. p99_s=.. baseline_s=.. failed=.. requests=.. ping_p50_s=..
overhead=.. lb_cpu_ms=.. master_cpu_ms=..`` (p50/p99 over every start and stop switch). The
targets (overhead <= 1.5, failed=0) are printed beside the figures, never asserted.
"""

import argparse
import collections
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.cluster import Cluster, ClusterError
from harness.haproxy import HAProxy, free_port, wait_for
from harness.sandbox import AppServer, http_get, is_page

ENV = "bench"
LOAD_INTERVAL = 0.05
POLL_INTERVAL = 0.02
SWITCH_TIMEOUT = 30.0
SETTLE = 1.0
BACKGROUND_WINDOW = 5.0
START_ATTEMPTS = 2
TARGET_OVERHEAD = 1.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BASELINE_TIMEOUT = 60.0
REFERENCE_DEFAULT_SERVER = (
    "inter 10s downinter 5s rise 2 fall 2 slowstart 60s maxconn 250 maxqueue 256 "
    "weight 100 error-limit 1 on-error mark-down"
)


def fetch(url, timeout=5.0):
    """A bare HTTP/1.0 GET: the load and the pollers run thousands of these on the same
    2 cores as the cluster, and urllib costs several times more CPU per request."""
    host_port = url.split("/")[2]
    host, port = host_port.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\nHost: lb\r\n\r\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    except OSError as err:
        return 0, str(err)
    head, _sep, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        return 0, head[:100].decode(errors="replace")
    return int(status_line[1]), body.decode(errors="replace")


def classify(status, body):
    if status == 200 and body.startswith("APP "):
        return "app"
    # Our LBs answer the page as a 503; the reference setup's sorry server as a 200.
    if is_page(status, body) or (status == 200 and "<html" in body.lower()):
        return "page"
    return "failed"


class Load:
    """One request per URL every LOAD_INTERVAL s; keeps (time, url, kind) of each answer, and
    what each failed one got (its status and the start of its body, or the socket error)."""

    def __init__(self, urls):
        self.urls = urls
        self.samples = []
        self.failures = collections.Counter()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(url,)) for url in urls]

    def run(self, url):
        while not self.stopping.is_set():
            began = time.monotonic()
            status, body = fetch(url)
            kind = classify(status, body)
            self.samples.append((began, url, kind))
            if kind == "failed":
                self.failures[f"{status} {' '.join(body.split())[:60]}"] += 1
            self.stopping.wait(max(LOAD_INTERVAL - (time.monotonic() - began), 0))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)

    def count(self, since=None):
        kinds = [kind for t, _url, kind in self.samples if since is None or t >= since]
        return {kind: kinds.count(kind) for kind in ("app", "page", "failed")}


class Pollers:
    """One poller thread per URL, a GET every POLL_INTERVAL s, each until its URL answers
    ``want``; with ``want=None``, until :py:meth:`stop` (the same load while a ping runs)."""

    def __init__(self, urls, want, t0):
        self.want = want
        self.t0 = t0
        self.done = {}
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.poll, args=(url,)) for url in urls]
        for thread in self.threads:
            thread.start()

    def poll(self, url):
        deadline = self.t0 + SWITCH_TIMEOUT
        while time.monotonic() < deadline and not self.stopping.is_set():
            if classify(*fetch(url, timeout=2)) == self.want:
                self.done[url] = time.monotonic() - self.t0
                return
            self.stopping.wait(POLL_INTERVAL)

    def stop(self):
        self.stopping.set()
        self.join()

    def join(self):
        for thread in self.threads:
            thread.join()


def wait_all(urls, want, t0):
    """Seconds from t0 until every URL answers ``want``; one poller thread per URL."""
    pollers = Pollers(urls, want, t0)
    pollers.join()
    missing = [url for url in urls if url not in pollers.done]
    if missing:
        raise RuntimeError(f"{len(missing)} LBs did not switch to {want}: {missing[:3]}")
    return max(pollers.done.values())


class CpuMeter:
    """CPU seconds of the salt-master's and every LB minion's processes, from /proc.

    Every daemon leads its own session (harness/cluster.py starts it so), and its
    workers and job processes keep that session id; a process's utime+stime plus the
    cutime+cstime of the children it reaped, summed over a session, only grows, also when
    job processes come and go."""

    def __init__(self, cluster):
        pids = cluster.daemon_pids()
        self.sessions = {pids["master"]: "master", **{pids[lb]: lb for lb in cluster.lbs}}

    def read(self):
        """``{"master": seconds, lb_id: seconds, ...}`` now."""
        ticks = dict.fromkeys(self.sessions.values(), 0)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:  # gone meanwhile; what it used is in its parent's cutime
                continue
            # After "(comm) ": state, ppid, pgrp, session, ... utime stime cutime cstime
            # (fields 3, 4, 5, 6 ... 14-17 of proc(5)).
            fields = stat[stat.rindex(b")") + 2 :].split()
            name = self.sessions.get(int(fields[3]))
            if name is not None:
                ticks[name] += sum(int(value) for value in fields[11:15])
        return {name: count / CLOCK_TICKS for name, count in ticks.items()}

    @staticmethod
    def used(before, after, lbs):
        return {
            "lb_cpu_s": sum(after[lb] - before[lb] for lb in lbs),
            "master_cpu_s": after["master"] - before["master"],
        }


def ping(master_opts, lbs, urls, cpu, timeouts):
    """Salt's own floor: ``test.ping`` to every LB in one publish, as the runner publishes,
    while the pollers load the LBs as during a switch; seconds until every LB returned."""
    import salt.client

    began = time.monotonic()
    with salt.client.LocalClient(mopts=master_opts) as client:
        client_s = time.monotonic() - began
        pollers = Pollers(urls, None, time.monotonic())
        try:
            before = cpu.read()
            t0 = time.monotonic()
            returns = client.cmd(lbs, "test.ping", tgt_type="list", full_return=True, **timeouts)
            latency = time.monotonic() - t0
            after = cpu.read()
        finally:
            pollers.stop()
    missing = [lb for lb in lbs if (returns.get(lb) or {}).get("ret") is not True]
    if missing:
        raise RuntimeError(f"test.ping: {len(missing)} LBs did not answer: {missing[:3]}")
    return {"latency_s": latency, "client_s": client_s, **CpuMeter.used(before, after, lbs)}


def switch(cluster, events, caller, tag, want, urls, cpu):
    before = cpu.read()
    t0 = time.monotonic()
    t0_wall = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    caller.cmd("event.send", tag, {"env": ENV})
    latency = wait_all(urls, want, t0)
    result = events.wait("maint/re*", timeout=SWITCH_TIMEOUT)
    after = cpu.read()
    if result["_tag"] != "maint/result":
        raise RuntimeError(f"{tag} was rejected: {result.get('why')}")
    # Every LB switched (wait_all saw it); an LB that answered late or failed is counted,
    # with Salt's or the LB's word, not hidden.
    problems = {lb: result["lbs"][lb] for lb in result.get("failed", [])}
    if problems:
        print(f"  {tag}: {result['state']}: {json.dumps(problems)[:1000]}")
    lb_times = [out.get("duration_s", 0) for out in result["lbs"].values() if "duration_s" in out]
    received = datetime.datetime.fromisoformat(result["stamp"])
    answered = datetime.datetime.fromisoformat(result["_stamp"]).replace(tzinfo=None)
    runner_began = answered - datetime.timedelta(seconds=result["duration_s"])
    return {
        "to_master_s": (received - t0_wall).total_seconds(),
        "to_runner_s": (runner_began - received).total_seconds(),
        "target_and_record_s": result["timings"]["target_and_record_s"],
        "publish_and_returns_s": result["timings"]["publish_and_returns_s"],
        "t0": t0,
        "latency_s": latency,
        "runner_s": result["duration_s"],
        "lb_module_max_s": max(lb_times, default=0.0),
        "lb_module_median_s": statistics.median(lb_times) if lb_times else 0.0,
        "incomplete": problems,
        **CpuMeter.used(before, after, list(cluster.lbs)),
    }


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class CandidateCluster(Cluster):
    """The cluster with the master's runners taken from ``runner_dir``."""

    def __init__(self, root, runner_dir, **kwargs):
        super().__init__(root, **kwargs)
        self.runner_dir = Path(runner_dir).resolve()

    def master_config(self):
        return {**super().master_config(), "runner_dirs": [str(self.runner_dir)]}


def start_cluster(lbs, runner_dir):
    """A started cluster. Its ports are picked free before the daemons bind them, and on a
    machine where other test runs open thousands of connections one can be taken meanwhile
    (a salt-master then exits with "Address already in use"): then once more, new ports."""
    for attempt in range(1, START_ATTEMPTS + 1):
        root = Path(tempfile.mkdtemp(prefix="bench-failover-"))
        if runner_dir is None:
            cluster = Cluster(root, lb_count=lbs, env=ENV)
        else:
            cluster = CandidateCluster(root, runner_dir, lb_count=lbs, env=ENV)
            print(f"candidate: the master's runners come from {cluster.runner_dir}")
        try:
            return cluster.start()
        except ClusterError as err:
            cluster.stop()
            if attempt == START_ATTEMPTS:
                raise
            print(f"cluster start failed ({err}); once more with new ports")
        except BaseException:
            cluster.stop()
            raise


def run_cluster(lbs, rounds, keep, runner_dir=None):
    figures = {"start": [], "stop": [], "ping": []}
    timeline = []
    began = time.monotonic()
    cluster = start_cluster(lbs, runner_dir)
    try:
        cluster.highstate()
        print(f"cluster of {lbs} LBs up and highstated in {time.monotonic() - began:.1f}s")
        urls = [sandbox.url("app") for sandbox in cluster.lbs.values()]
        try:
            wait_for(lambda: all(classify(*http_get(u)) == "app" for u in urls), 60, "the app")
        except TimeoutError:
            answers = {u: http_get(u)[:2] for u in urls}
            raise RuntimeError(f"not every LB serves the app: {answers}") from None
        caller = cluster.caller()
        cpu = CpuMeter(cluster)
        master_opts = salt_master_opts(cluster)
        timeouts = {
            "timeout": master_opts["haproxy_maint"]["timeout"],
            "gather_job_timeout": master_opts["haproxy_maint"]["gather_job_timeout"],
        }
        lb_ids = list(cluster.lbs)
        with cluster.event_listener() as events, Load(urls) as load:
            time.sleep(SETTLE)
            before = cpu.read()
            time.sleep(BACKGROUND_WINDOW)
            background = CpuMeter.used(before, cpu.read(), lb_ids)
            background = {key: value / BACKGROUND_WINDOW for key, value in background.items()}
            for number in range(rounds):
                for tag, want, key in (
                    ("maint/start", "page", "start"),
                    ("maint/stop", "app", "stop"),
                ):
                    # The floor first, on the same minions under the same load.
                    figures["ping"].append(ping(master_opts, lb_ids, urls, cpu, timeouts))
                    time.sleep(SETTLE)
                    figures[key].append(switch(cluster, events, caller, tag, want, urls, cpu))
                    time.sleep(SETTLE)
                print(
                    f"round {number + 1}/{rounds}: start {figures['start'][-1]['latency_s']:.3f}s"
                    f" stop {figures['stop'][-1]['latency_s']:.3f}s"
                    f" test.ping {figures['ping'][-2]['latency_s']:.3f}s"
                    f" {figures['ping'][-1]['latency_s']:.3f}s"
                )
            if keep:
                base = min(t for t, _u, _k in load.samples)
                timeline = [(round(t - base, 4), kind) for t, _u, kind in load.samples]
                for key in ("start", "stop"):
                    for figure in figures[key]:
                        figure["t0"] = round(figure["t0"] - base, 4)
        counts = load.count()
        counts["what_failed"] = dict(load.failures.most_common())
    finally:
        cluster.stop()
    return figures, counts, timeline, background


def salt_master_opts(cluster):
    import salt.config

    return salt.config.master_config(str(cluster.master_config_dir / "master"))


def cpu_ms(figures, lbs):
    """CPU milliseconds per LB and per switch (or ping): LB side and master side."""
    count = len(figures) * lbs
    return {
        "lb": 1000 * sum(f["lb_cpu_s"] for f in figures) / count,
        "master": 1000 * sum(f["master_cpu_s"] for f in figures) / count,
    }


def reference_lb(workdir, sorry_port):
    """A plain haproxy with the reference setup's default-server line, one app server."""
    app = AppServer("ref-app").start()
    haproxy = HAProxy(
        workdir=workdir,
        backends={"app": {"app1": f"{app.address} check observe layer7"}},
        sorry_address=f"127.0.0.1:{sorry_port} maxconn 500",
    )
    haproxy.render = _reference_render(haproxy)
    haproxy.start()
    url = f"http://127.0.0.1:{haproxy.frontend_port}/"
    wait_for(lambda: classify(*http_get(url)) == "app", 30, "the reference app")
    return app, haproxy, url


def server_status(haproxy):
    for line in haproxy.command("show stat").splitlines():
        fields = line.split(",")
        if fields[:2] == ["app", "app1"]:
            return fields[17]
    return None


def baseline():
    """The reference setup's own failover on one LB, its app server made unreachable.

    Quiet: no traffic, so only health checks notice; seconds until HAProxy marks it DOWN.
    Under load (a request every 50 ms): requests that fail, and until when.
    """
    workdir = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    page_dir = workdir / "www"
    page_dir.mkdir()
    (page_dir / "index.html").write_text("<html><body>maintenance</body></html>\n")
    sorry_port = free_port()
    sorry_proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(sorry_port), "--bind", "127.0.0.1"],
        cwd=page_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = []
    try:
        wait_for(lambda: http_get(f"http://127.0.0.1:{sorry_port}/")[0] == 200, 10, "sorry")
        app, haproxy, _url = reference_lb(workdir / "quiet", sorry_port)
        started += [app, haproxy]
        t0 = time.monotonic()
        app.stop()
        wait_for(lambda: server_status(haproxy) == "DOWN", BASELINE_TIMEOUT, "health checks")
        quiet = time.monotonic() - t0

        app, haproxy, url = reference_lb(workdir / "load", sorry_port)
        started += [app, haproxy]
        with Load([url]) as load:
            time.sleep(1)
            t0 = time.monotonic()
            app.stop()
            wait_for(lambda: load.count(since=t0)["page"] >= 20, BASELINE_TIMEOUT, "the page")
        window = [(t - t0, kind) for t, _url, kind in load.samples if t >= t0]
        failed = [t for t, kind in window if kind == "failed"]
        loaded = {
            "failed": len(failed),
            "requests": len(window),
            "last_failed_s": max(failed) if failed else 0.0,
        }
        return quiet, loaded
    finally:
        for item in started:
            item.stop()
        sorry_proc.terminate()
        sorry_proc.wait(10)


def _reference_render(haproxy):
    original = haproxy.render

    def render():
        text = original()
        return text.replace(
            "    load-server-state-from-file global\n",
            "    load-server-state-from-file global\n"
            f"    default-server {REFERENCE_DEFAULT_SERVER}\n"
            "    retries 3\n"
            "    errorfile 503 /dev/null\n",
        )

    return render


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lbs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-baseline", action="store_true", help="skip the reference run")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--candidate-runners", type=Path, help="a copy of _runners for the master to use"
    )
    args = parser.parse_args()

    # As a service manager starts them: see the module docstring.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    figures, counts, timeline, background = run_cluster(
        args.lbs, args.rounds, bool(args.json), args.candidate_runners
    )
    latencies = [f["latency_s"] for key in ("start", "stop") for f in figures[key]]
    for key in ("start", "stop"):
        values = [f["latency_s"] for f in figures[key]]

        def p50(name, key=key):
            return statistics.median(f[name] for f in figures[key])

        print(
            f"{key:5}: p50 {statistics.median(values):.3f}s p99 {percentile(values, 0.99):.3f}s"
            f" | where the p50 goes: fired -> master received {p50('to_master_s'):.3f}s,"
            f" -> runner running"
            f" {p50('to_runner_s'):.3f}s, runner total {p50('runner_s'):.3f}s"
            f" (publish + LB jobs + returns {p50('publish_and_returns_s'):.3f}s),"
            f" slowest LB's module {p50('lb_module_max_s'):.3f}s"
        )
    base_latency, base_counts = (None, {})
    if not args.no_baseline:
        base_latency, base_counts = baseline()
        print(
            f"baseline (reference setup, one LB, app made unreachable): health checks mark it"
            f" DOWN after {base_latency:.2f}s with no traffic; under a request every 50 ms,"
            f" {base_counts['failed']} of {base_counts['requests']} requests failed (empty reply),"
            f" the last one started {base_counts['last_failed_s']:.2f}s after the cut"
        )
    pings = [f["latency_s"] for f in figures["ping"]]
    ping_p50 = statistics.median(pings)
    overhead = statistics.median(latencies) / ping_p50
    switches = figures["start"] + figures["stop"]
    cpu, ping_cpu = cpu_ms(switches, args.lbs), cpu_ms(figures["ping"], args.lbs)
    print(
        f"floor: test.ping to the {args.lbs} LBs, same minions, same load: p50 {ping_p50:.3f}s"
        f" p99 {percentile(pings, 0.99):.3f}s (LocalClient set-up, not timed: p50"
        f" {statistics.median(f['client_s'] for f in figures['ping']):.3f}s)"
    )
    print(
        f"CPU per LB per switch: LB side {cpu['lb']:.1f} ms, master side {cpu['master']:.1f} ms"
        f" | per LB per test.ping: LB side {ping_cpu['lb']:.1f} ms,"
        f" master side {ping_cpu['master']:.1f} ms | with no job running, per second:"
        f" LB side {1000 * background['lb_cpu_s'] / args.lbs:.1f} ms per LB,"
        f" master side {1000 * background['master_cpu_s']:.1f} ms"
    )
    requests = sum(counts[kind] for kind in ("app", "page", "failed"))
    print(
        f"targets: overhead <= {TARGET_OVERHEAD}: {overhead:.2f}"
        f" {'met' if overhead <= TARGET_OVERHEAD else 'NOT met'};"
        f" failed=0: {counts['failed']} {'met' if counts['failed'] == 0 else 'NOT met'}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "lbs": args.lbs,
                    "rounds": args.rounds,
                    "figures": figures,
                    "counts": counts,
                    "baseline_s": base_latency,
                    "baseline_counts": base_counts,
                    "background_cpu_s_per_s": background,
                    "timeline": timeline,
                },
                indent=1,
            )
        )
    for what, times in counts["what_failed"].items():
        print(f"failed {times}x: {what}")
    incomplete = sum(1 for f in switches if f["incomplete"])
    if incomplete:
        print(f"{incomplete} switches had an LB that failed or answered late (see above)")
    base = f"{base_latency:.2f}" if base_latency is not None else "skipped"
    print(
        f"lbs={args.lbs} p50_s={statistics.median(latencies):.3f}"
        f" p99_s={percentile(latencies, 0.99):.3f} baseline_s={base}"
        f" failed={counts['failed']} requests={requests}"
        f" ping_p50_s={ping_p50:.3f} overhead={overhead:.2f}"
        f" lb_cpu_ms={cpu['lb']:.1f} master_cpu_ms={cpu['master']:.1f}"
    )


if __name__ == "__main__":
    main()
