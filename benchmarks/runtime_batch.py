"""
Time putting every app server of one HAProxy into MAINT and back to READY, three ways, on the
same socket in the same run:

- ours: ``haproxy_runtime.set_states`` with all the changes, one connection per direction;
- floor: a bare socket client that sends the same bytes as ours (prompt mode, the same
  commands, ``quit``) over one connection and reads to EOF, parsing and checking nothing:
  HAProxy's own cost plus the least a Python client can add;
- saltext: saltext-haproxy 1.0.0's ``haproxyconn.set_state``, one call (and so one
  connection) per server, as that module does.

``--candidate PATH`` adds a fourth way: ``set_states`` of another copy of
``haproxy_runtime.py`` (a proposed change), timed the same way in the same run.

haproxyctl 0.3.1, which ``haproxyconn`` uses, is Python 2 code: on Python 3 ``HaPConn.sendCmd``
sends a ``str`` and appends the ``bytes`` it reads to a ``str``. The only change made to it is
the socket class ``HaPConn.open`` creates (``haproxy.conn.socket``): a subclass whose
``send`` encodes and ``recv`` decodes. The script first shows that the unshimmed call fails.

After every timed direction the script reads ``show servers state`` itself and fails if any
server is not in the state asked for: a run that changed nothing is never timed.

Last line: ``servers=.. ours_ms=.. saltext_ms=.. speedup=.. floor_ms=.. ours_vs_floor=..``
(medians of the MAINT+READY round trip; ``ours_vs_floor`` is the median of the per-round
ratios, ours and the floor running back to back in each round, which a machine load that
comes and goes moves less than the ratio of the two medians; the target ours_vs_floor <= 1.1
is printed beside it, never asserted).

Run: ``.venv/bin/python benchmarks/runtime_batch.py [--servers 500] [--rounds 50] [--json PATH]``
"""

import argparse
import importlib.metadata
import importlib.util
import json
import platform
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "_utils"))  # the shared package, as Salt's loader finds it

import haproxy.conn  # noqa: E402  (haproxyctl)
from saltext.haproxy.modules import haproxyconn  # noqa: E402

from _modules import haproxy_runtime  # noqa: E402
from harness.haproxy import HAProxy, free_port  # noqa: E402

DEFAULT_SERVERS = 500
DEFAULT_BACKENDS = 10
DEFAULT_ROUNDS = 50
DEFAULT_WARMUP = 1
SORRY_NAME = "localhost"
# srv_admin_state of `show servers state`: 0 is READY, FMAINT (0x01) is what
# `set server ... state maint` sets.
EXPECTED_ADMIN_STATE = {"maint": 0x01, "ready": 0x00}
DIRECTIONS = ("maint", "ready")
TARGET_OURS_VS_FLOOR = 1.1
READ_CHUNK = 65536
SHIM_TEXT = (
    "saltext-haproxy runs with a shim: haproxyctl 0.3.1's haproxy.conn.socket is replaced by a "
    "socket subclass whose send() encodes str to bytes and recv() decodes bytes to str; "
    "nothing else is changed (one connection per command, as haproxyconn does)"
)


class BenchmarkError(RuntimeError):
    """The benchmark could not measure what it claims to measure."""


class _TextSocket(socket.socket):
    """What haproxyctl 0.3.1 assumed a socket was on Python 2: str in, str out."""

    def send(self, data, *args):
        return super().send(data.encode() if isinstance(data, str) else data, *args)

    def recv(self, bufsize, *args):
        return super().recv(bufsize, *args).decode()


def _layout(servers, backends):
    """Spread ``servers`` app servers over ``backends`` backends: ``{backend: {server: addr}}``."""
    backends = min(backends, servers)
    layout = {}
    for index in range(servers):
        backend = f"app{index % backends:02d}"
        server = f"srv{index // backends + 1:03d}"
        # A loopback port nobody listens on; there are no health checks, so it is never dialled.
        layout.setdefault(backend, {})[server] = f"127.0.0.1:{free_port()}"
    return layout


def _admin_states(lb):
    """``{(backend, server): srv_admin_state}`` read straight from ``show servers state``."""
    lines = lb.command("show servers state").splitlines()
    if not lines or lines[0].strip() != "1" or len(lines) < 2 or not lines[1].startswith("#"):
        raise BenchmarkError(f"unexpected 'show servers state' answer: {lines[:2]!r}")
    header = lines[1][1:].split()
    be_name, srv_name = header.index("be_name"), header.index("srv_name")
    admin = header.index("srv_admin_state")
    states = {}
    for line in lines[2:]:
        if line.strip():
            fields = line.split()
            states[(fields[be_name], fields[srv_name])] = int(fields[admin])
    return states


def verify(lb, targets, state, method):
    """Fail loudly unless every target is in ``state`` and every backup server is READY."""
    states = _admin_states(lb)
    want = EXPECTED_ADMIN_STATE[state]
    wrong = [f"{b}/{s}={states.get((b, s))}" for b, s in targets if states.get((b, s)) != want]
    backups = [key for key in states if key[1] == SORRY_NAME]
    wrong += [f"{b}/{s}={states[(b, s)]} (backup)" for b, s in backups if states[(b, s)] != 0]
    if wrong or len(states) != len(targets) + len(backups):
        raise BenchmarkError(
            f"{method} -> {state}: {len(wrong)} servers not as expected (want srv_admin_state "
            f"{want} for {len(targets)} servers, 0 for backups): {', '.join(wrong[:10])}"
        )


def run_ours(targets, state, sock):
    changes = [{"backend": b, "server": s, "state": state} for b, s in targets]
    haproxy_runtime.set_states(changes, socket=sock)
    return []


def run_floor(targets, state, sock):
    """The same bytes as ``run_ours`` sends, read to EOF: no validation, no parsing, no
    checks, a blocking socket with no timeout. No real client is this bare."""
    commands = "".join(f"set server {b}/{s} state {state}\n" for b, s in targets)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(sock)
        conn.sendall(f"prompt\n{commands}quit\n".encode())
        while conn.recv(READ_CHUNK):
            pass
    return []


def run_saltext(targets, state, sock):
    return [haproxyconn.set_state(s, b, state, socket=sock) for b, s in targets]


METHODS = {
    "ours": ("haproxy_runtime.set_states, one batch per direction", run_ours),
    "floor": ("bare socket client, same bytes, read to EOF", run_floor),
    "saltext": ("saltext-haproxy haproxyconn.set_state, one call per server (shim)", run_saltext),
}


def load_candidate(path):
    """Add ``candidate``: ``set_states`` of another copy of haproxy_runtime.py."""
    spec = importlib.util.spec_from_file_location("haproxy_runtime_candidate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__context__ = {}
    module.__salt__ = haproxy_runtime.__salt__

    def run_candidate(targets, state, sock):
        changes = [{"backend": b, "server": s, "state": state} for b, s in targets]
        module.set_states(changes, socket=sock)
        return []

    METHODS["candidate"] = (f"set_states of {path}", run_candidate)


def timed(method, lb, targets, state):
    """Run one direction with one method; return its milliseconds after verifying it."""
    start = time.perf_counter()
    answers = METHODS[method][1](targets, state, lb.socket)
    elapsed = (time.perf_counter() - start) * 1000
    refused = [answer for answer in answers if answer.strip()]
    if refused:
        raise BenchmarkError(f"{method}: HAProxy answered {len(refused)} errors: {refused[0]!r}")
    verify(lb, targets, state, method)
    return elapsed


def install_shim(lb, targets):
    """Show that haproxyconn fails unshimmed, then shim its socket; return what was seen."""
    if haproxyconn.__virtual__() != "haproxy":
        raise BenchmarkError(f"haproxyconn does not load: {haproxyconn.__virtual__()!r}")
    backend, server = targets[0]
    try:
        haproxyconn.set_state(server, backend, "ready", socket=lb.socket)
    except TypeError as err:
        seen = f"unshimmed, set_state raised TypeError: {err}"
    else:
        raise BenchmarkError("haproxyconn.set_state worked unshimmed: is haproxyctl still 0.3.1?")
    haproxy.conn.socket = _TextSocket
    return seen


def summary(samples):
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "mean": statistics.fmean(samples),
    }


def _version(*names):
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def measure(lb, targets, rounds, warmup):
    samples = {m: {d: [] for d in (*DIRECTIONS, "round_trip")} for m in METHODS}
    order = []
    for number in range(warmup + rounds):
        # Alternate the order so no method always meets a warmer or colder haproxy.
        methods = list(METHODS) if number % 2 == 0 else list(reversed(METHODS))
        for method in methods:
            times = {state: timed(method, lb, targets, state) for state in DIRECTIONS}
            if number < warmup:
                continue
            for state, elapsed in times.items():
                samples[method][state].append(elapsed)
            samples[method]["round_trip"].append(sum(times.values()))
        if number >= warmup:
            order.append(methods)
    return samples, order


def paired_ratio(samples, method, other):
    """Median over the rounds of method's round trip over other's in the same round."""
    pairs = zip(samples[method]["round_trip"], samples[other]["round_trip"])
    return statistics.median(mine / theirs for mine, theirs in pairs)


def report(samples):
    print(f"{'method':<8} {'direction':<11} {'median':>9} {'min':>9} {'max':>9}  (ms)")
    for method, by_direction in samples.items():
        for direction, values in by_direction.items():
            stats = summary(values)
            print(
                f"{method:<8} {direction:<11} {stats['median']:9.2f} {stats['min']:9.2f} "
                f"{stats['max']:9.2f}"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=DEFAULT_SERVERS)
    parser.add_argument("--backends", type=int, default=DEFAULT_BACKENDS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed rounds")
    parser.add_argument("--json", type=Path, help="write every figure, per-round samples too")
    parser.add_argument(
        "--candidate", type=Path, help="also time set_states of this copy of haproxy_runtime.py"
    )
    args = parser.parse_args(argv)
    if args.servers < 1 or args.backends < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--servers, --backends and --rounds must be >= 1, --warmup >= 0")

    # Run the finally below on `kill <pid>` too, not only on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    haproxy_runtime.__context__ = {}
    haproxy_runtime.__salt__ = {"config.get": lambda key, default=None: default}
    if args.candidate:
        load_candidate(args.candidate)

    with tempfile.TemporaryDirectory(prefix="bench-haproxy-") as workdir:
        layout = _layout(args.servers, args.backends)
        targets = [(b, s) for b, servers in layout.items() for s in servers]
        lb = HAProxy(
            workdir=Path(workdir), backends=layout, sorry_address=f"127.0.0.1:{free_port()}"
        )
        try:
            lb.start()
            version = haproxy_runtime.show_info(socket=lb.socket)["Version"]
            print(
                f"haproxy {version} pid {lb.proc.pid}, socket {lb.socket}: {len(targets)} "
                f"servers in {len(layout)} backends, plus one backup server each (left READY)"
            )
            verify(lb, targets, "ready", "start")
            seen = install_shim(lb, targets)
            print(f"{SHIM_TEXT} ({seen})")
            print(f"rounds={args.rounds} warmup={args.warmup}, every direction verified")
            samples, order = measure(lb, targets, args.rounds, args.warmup)
        finally:
            lb.stop()

    report(samples)
    ours = statistics.median(samples["ours"]["round_trip"])
    saltext = statistics.median(samples["saltext"]["round_trip"])
    floor = statistics.median(samples["floor"]["round_trip"])
    result = {
        "servers": len(targets),
        "ours_ms": round(ours, 2),
        "saltext_ms": round(saltext, 2),
        "speedup": round(saltext / ours, 1),
        "floor_ms": round(floor, 2),
        "ours_vs_floor": round(paired_ratio(samples, "ours", "floor"), 2),
    }
    met = "met" if result["ours_vs_floor"] <= TARGET_OURS_VS_FLOOR else "NOT met"
    print(f"target ours_vs_floor <= {TARGET_OURS_VS_FLOOR}: {met}")
    if "candidate" in samples:
        candidate = statistics.median(samples["candidate"]["round_trip"])
        print(
            f"candidate {args.candidate}: {candidate:.2f} ms, candidate_vs_floor="
            f"{paired_ratio(samples, 'candidate', 'floor'):.2f}, ours_vs_candidate="
            f"{paired_ratio(samples, 'ours', 'candidate'):.2f}"
        )
    if args.json:
        figures = {
            "result": result,
            "servers": len(targets),
            "backends": len(layout),
            "rounds": args.rounds,
            "warmup": args.warmup,
            "order": order,
            "shim": SHIM_TEXT,
            "unshimmed": seen,
            "environment": {
                "haproxy": version,
                "python": platform.python_version(),
                "salt": _version("salt"),
                "saltext-haproxy": _version("saltext.haproxy", "saltext-haproxy"),
                "haproxyctl": _version("haproxyctl"),
                "machine": platform.platform(),
            },
            "methods": {
                method: {
                    "label": METHODS[method][0],
                    "samples_ms": by_direction,
                    "stats_ms": {d: summary(v) for d, v in by_direction.items()},
                }
                for method, by_direction in samples.items()
            },
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    print(" ".join(f"{key}={value}" for key, value in result.items()))


if __name__ == "__main__":
    try:
        main()
    except BenchmarkError as err:
        sys.exit(f"benchmark failed: {err}")
    except KeyboardInterrupt:
        sys.exit("benchmark interrupted; haproxy stopped")
