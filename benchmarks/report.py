"""Write docs/benchmarks.md and its plots from the JSON files that `make bench` produced.

Usage: ``report.py <figures dir> <docs dir>``; reads ``runtime.json`` and ``failover-<N>.json``.
"""

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BUCKET = 0.1
WINDOW_BEFORE = 0.5
WINDOW_AFTER = 1.0
KINDS = (("app", "tab:green"), ("page", "tab:blue"), ("failed", "tab:red"))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def latency_plot(runs, path):
    counts = sorted(runs)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, marker in (("start", "o"), ("stop", "s")):
        p50 = [statistics.median(f["latency_s"] for f in runs[n]["figures"][key]) for n in counts]
        p99 = [percentile([f["latency_s"] for f in runs[n]["figures"][key]], 0.99) for n in counts]
        ax.plot(counts, p50, marker=marker, label=f"{key} p50")
        ax.plot(counts, p99, marker=marker, linestyle="--", label=f"{key} p99")
    ax.set_xlabel("LBs in the environment")
    ax.set_ylabel("seconds until every LB has switched")
    ax.set_xticks(counts)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("maint/start and maint/stop: event fired -> every LB switched")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def timeline_plot(run, path):
    start = run["figures"]["start"][0]["t0"]
    stop = run["figures"]["stop"][0]["t0"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, (label, t0) in zip(axes, (("maint/start", start), ("maint/stop", stop))):
        buckets = {}
        for t, kind in run["timeline"]:
            if t0 - WINDOW_BEFORE <= t < t0 + WINDOW_AFTER:
                index = int((t - t0 + WINDOW_BEFORE) // BUCKET)
                buckets.setdefault(index, {k: 0 for k, _c in KINDS})[kind] += 1
        xs = [
            i * BUCKET - WINDOW_BEFORE for i in range(int((WINDOW_BEFORE + WINDOW_AFTER) / BUCKET))
        ]
        bottom = [0] * len(xs)
        for kind, colour in KINDS:
            values = [buckets.get(i, {}).get(kind, 0) for i in range(len(xs))]
            ax.bar(
                xs,
                values,
                width=BUCKET * 0.9,
                bottom=bottom,
                color=colour,
                label=kind,
                align="edge",
            )
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.axvline(0, color="black", linewidth=1)
        ax.set_title(f"{label} fired at 0 s")
        ax.set_xlabel("seconds")
    axes[0].set_ylabel("requests per 100 ms")
    axes[1].legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def runtime_plot(runtime, path):
    methods = runtime["methods"]
    labels = [methods[m]["label"] for m in methods]
    medians = [statistics.median(methods[m]["samples_ms"]["round_trip"]) for m in methods]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh(labels, medians, color=["tab:green", "tab:gray"][: len(labels)])
    for y, value in enumerate(medians):
        ax.text(value, y, f" {value:.1f} ms", va="center")
    ax.set_xlabel(f"ms to put {runtime['servers']} servers in MAINT and back (median)")
    ax.set_xlim(right=max(medians) * 1.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    figures_dir, docs_dir = Path(sys.argv[1]), Path(sys.argv[2])
    static = docs_dir / "_static" / "bench"
    static.mkdir(parents=True, exist_ok=True)
    runs = {}
    for path in sorted(figures_dir.glob("failover-*.json")):
        run = json.loads(path.read_text())
        runs[run["lbs"]] = run
    runtime = json.loads((figures_dir / "runtime.json").read_text())
    latency_plot(runs, static / "latency.png")
    timeline_plot(runs[min(runs)], static / "timeline.png")
    runtime_plot(runtime, static / "runtime.png")

    lines = [
        "# Benchmark report",
        "",
        "Written by `make bench` (benchmarks/report.py) from the figures of one run on this",
        "project's 2-core machine; numbers move with machine load, ratios less so.",
        "",
        "## Failover latency against the number of LBs",
        "",
        "From the moment `maint/start` (or `maint/stop`) is fired on the ops minion until",
        "every LB of the environment answers with the page (or the app), polled every 20 ms,",
        "while every LB also takes a request every 50 ms (benchmarks/failover.py).",
        "",
        "![latency](_static/bench/latency.png)",
        "",
        "| LBs | start p50 s | start p99 s | stop p50 s | stop p99 s | runner p50 s | failed / requests |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, run in sorted(runs.items()):
        start = [f["latency_s"] for f in run["figures"]["start"]]
        stop = [f["latency_s"] for f in run["figures"]["stop"]]
        runner = [f["runner_s"] for key in ("start", "stop") for f in run["figures"][key]]
        total = sum(run["counts"].values())
        lines.append(
            f"| {n} | {statistics.median(start):.3f} | {percentile(start, 0.99):.3f} | "
            f"{statistics.median(stop):.3f} | {percentile(stop, 0.99):.3f} | "
            f"{statistics.median(runner):.3f} | {run['counts']['failed']} / {total} |"
        )
    lines += [
        "",
        "Where the p50 goes (seconds, start and stop together): fired on the ops minion ->",
        "master received; -> the runner running (reactor render, runner thread); the runner's",
        "one publish, the LBs' jobs and their returns; and inside that, the slowest LB's own",
        "`haproxy_maint` call. On this machine every LB, its minion, haproxy and sorry server",
        "and the load generator share 2 cores. Salt's own job path (publish, fork, job set-up,",
        "an encrypted return) is the floor: a bare `test.ping` to two minions takes about",
        "0.1 s here, and with 16 minions contending for 2 cores it is most of the 16-LB",
        "figure; with one LB per machine that contention is not there.",
        "",
        "| LBs | fired -> master | -> runner running | publish + jobs + returns | slowest LB module |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, run in sorted(runs.items()):
        every = [f for key in ("start", "stop") for f in run["figures"][key]]

        def p50(name, every=every):
            values = [f[name] for f in every if name in f]
            return f"{statistics.median(values):.3f}" if values else "-"

        lines.append(
            f"| {n} | {p50('to_master_s')} | {p50('to_runner_s')} | "
            f"{p50('publish_and_returns_s')} | {p50('lb_module_max_s')} |"
        )
    base = next((run for run in runs.values() if run.get("baseline_s")), None)
    if base:
        counts = base["baseline_counts"]
        lines += [
            "",
            "Baseline, the reference setup's own failover on one LB (its app server made",
            "unreachable, `default-server inter 10s downinter 5s rise 2 fall 2 ...`): health",
            f"checks mark it DOWN after **{base['baseline_s']:.1f} s** with no traffic; under a",
            f"request every 50 ms, {counts['failed']} of {counts['requests']} requests failed",
            "with an empty reply (`errorfile 503 /dev/null`) before the backup took over.",
        ]
    lines += [
        "",
        "## Requests during a switch",
        "",
        f"Every answer of the load during the first start and stop of the {min(runs)}-LB run,",
        "per 100 ms: app, page, or failed.",
        "",
        "![timeline](_static/bench/timeline.png)",
        "",
        "## Runtime API batch",
        "",
        f"{runtime['servers']} servers into MAINT and back to READY on one haproxy",
        "(benchmarks/runtime_batch.py; see [the runtime benchmark](benchmarks-runtime.md)).",
        "",
        "![runtime](_static/bench/runtime.png)",
        "",
        "```text",
        " ".join(f"{key}={value}" for key, value in runtime["result"].items()),
        "```",
        "",
    ]
    (docs_dir / "benchmarks.md").write_text("\n".join(lines))
    print(f"wrote {docs_dir / 'benchmarks.md'} and {len(list(static.glob('*.png')))} plots")


if __name__ == "__main__":
    main()
