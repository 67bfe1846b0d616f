"""wrk runs for the benchmarks: one load point's req/s and p99, and, with the Lua script, the
whole answers (their exact size and a mark in the body), the other answers and the socket
errors that wrk saw."""

import os
import re
import resource
import subprocess

WRK = "wrk"
WRK_THREADS = 2
WRK_TIMEOUT = "5s"
# Open files for wrk beyond two per connection.
WRK_SPARE_FILES = 1024

# wrk counts the whole answers (size and mark) and the rest; the main thread adds them up.
FULL_PAGE_SCRIPT = """\
local expected = tonumber(os.getenv("PAGE_BYTES"))
local mark = os.getenv("PAGE_MARK")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) full = 0; other = 0 end
function response(status, headers, body)
  if #body == expected and string.find(body, mark, 1, true) then full = full + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local f, o = 0, 0
  for _, t in ipairs(threads) do f = f + t:get("full"); o = o + t:get("other") end
  local e = summary.errors
  io.write(string.format("PAGES full=%d other=%d errors=%d\\n", f, o,
    e.connect + e.read + e.write + e.timeout))
end
"""


def _open_files_for(connections):
    """A ``preexec_fn`` that lets wrk open its connections."""
    files = 2 * connections + WRK_SPARE_FILES

    def raise_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    return raise_limit


def _seconds(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(url, connections, duration, accept="", script=None, env=None):
    """One wrk run: ``{rps, p99_ms, full, other, errors}`` (the last three with ``script``)."""
    command = [WRK, f"-t{min(WRK_THREADS, connections)}", f"-c{connections}"]
    command += [f"-d{duration}s", f"--timeout={WRK_TIMEOUT}", "--latency"]
    if accept:
        command += ["-H", f"Accept: {accept}"]
    if script:
        command += ["-s", str(script)]
    proc = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=_open_files_for(connections),
        env={**os.environ, **(env or {})},
    )
    out = proc.stdout
    figures = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p99_ms": round(1000 * _seconds(re.search(r"\s99%\s+(\S+)", out).group(1)), 2),
    }
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    figures["socket_errors"] = sum(int(n) for n in errors.groups()) if errors else 0
    pages = re.search(r"PAGES full=(\d+) other=(\d+) errors=(\d+)", out)
    if pages:
        figures.update(zip(("full", "other", "errors"), map(int, pages.groups()), strict=True))
    return figures


def full_share(point):
    """``whole/all`` answers of a point counted with the script."""
    answers = point["full"] + point["other"] + point["errors"]
    return f"{point['full']}/{answers}"
