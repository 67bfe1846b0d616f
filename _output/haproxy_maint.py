"""
The ``haproxy_maint`` outputter: ``salt-run haproxy_maint.status`` as a table.

The runner returns data; this renders it. ``--out=json`` (or yaml, nested) shows the same
data unformatted.

.. code-block:: text

    env test: maintenance ON (Database upgrade), until 2026-11-28T04:00:00Z, bypass 10.0.0.0/24
      LB   backend  server               admin  status  sess
      lb1 [MAINT] sorry server up, haproxy up
      lb1  app      app1                 maint  MAINT      0
      lb1  app      localhost (backup)   ready  UP         0
"""

__virtualname__ = "haproxy_maint"

COLUMNS = ("LB", "backend", "server", "admin", "status", "sess")


def __virtual__():
    return __virtualname__


def _env_line(env, desired):
    line = f"env {env}: maintenance {'ON' if desired.get('active') else 'off'}"
    if desired.get("reason"):
        line += f" ({desired['reason']})"
    if desired.get("eta_at"):
        line += f", until {desired['eta_at']}"
    if desired.get("bypass"):
        line += f", bypass {', '.join(desired['bypass'])}"
    for backend, prefixes in sorted((desired.get("paths") or {}).items()):
        line += f", {backend} paths {', '.join(prefixes)}"
    window = desired.get("window") or {}
    if window.get("start_at"):
        line += f"; window pending from {window['start_at']}"
        if window.get("end_at"):
            line += f" to {window['end_at']}"
    elif window.get("end_at") and desired.get("active"):
        line += f"; window ends {window['end_at']}"
    failed = desired.get("window_failed") or {}
    if failed:
        line += f"; window dropped at {failed.get('dropped_at')}: {failed.get('why')}"
    return line


def _rows(env, data):
    rows = [_env_line(env, data.get("desired") or {})]
    if data.get("warning"):
        rows.append(f"  warning: {data['warning']}")
    rows.append(COLUMNS)
    for lb, out in sorted((data.get("lbs") or {}).items()):
        if out.get("outcome") != "ok":
            why = f": {out['why']}" if out.get("why") else ""
            rows.append(f"  {lb}: {out.get('outcome')}{why}")
            continue
        flag = "MAINT" if out.get("maintenance") else "live"
        line = (
            f"  {lb} [{flag}] sorry server {out.get('sorry_server')}, haproxy {out.get('haproxy')}"
        )
        for backend, prefixes in sorted((out.get("paths_in_maintenance") or {}).items()):
            line += f"; {backend} paths {', '.join(prefixes)}"
        rows.append(line)
        for backend, servers in sorted((out.get("backends") or {}).items()):
            if "error" in servers:
                rows.append(f"  {lb}: {backend}: {servers['error']}")
                continue
            for server, info in sorted(servers.items()):
                name = server + (" (backup)" if info.get("backup") else "")
                cells = (info.get("admin"), info.get("status"), info.get("sessions"))
                rows.append((lb, backend, name, *(str(cell) for cell in cells)))
                if info.get("why"):
                    rows.append(f"    ({lb} {backend}/{server}: {info['why']})")
    return rows


def _render(rows):
    cells = [row for row in rows if isinstance(row, tuple)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for row in rows:
        if isinstance(row, str):
            lines.append(row)
            continue
        left = "  ".join(value.ljust(width) for value, width in zip(row[:-1], widths))
        lines.append(f"  {left}  {row[-1].rjust(widths[-1])}")
    return "\n".join(lines)


def output(data, **kwargs):
    """
    Render a status report (``{"envs": {env: {"desired", "lbs"}}}``) as text; anything else
    as its ``repr``-free string.

    data
        The runner's report.
    """
    if not isinstance(data, dict) or "envs" not in data:
        return str(data)
    blocks = [_render(_rows(env, env_data)) for env, env_data in sorted(data["envs"].items())]
    if data.get("why"):
        blocks.append(f"rejected: {data['why']}")
    return "\n\n".join(blocks) if blocks else "no environment configured"
