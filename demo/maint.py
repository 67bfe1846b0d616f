"""``make maint-start`` / ``make maint-stop``: maintenance on the ``make converge`` LB.

Usage: ``python -m demo.maint start|stop -- <salt-call command...>``. The Makefile gives the
``salt-call --local`` command of ``make converge``; this adds ``haproxy_maint.start`` or
``.stop`` and, for a start, the fields from the environment: ``REASON``, ``ETA`` (text on
the page), ``ETA_AT`` (ISO 8601 with a zone) and ``BYPASS`` (CIDRs, comma-separated). Each
value is passed JSON-encoded, so salt-call reads it as the string or list it is, whatever
characters it holds.
"""

import json
import os
import subprocess
import sys

FIELDS = {"REASON": "reason", "ETA": "eta", "ETA_AT": "eta_at"}


def start_arguments(environ):
    """``key=<json>`` arguments of haproxy_maint.start from the environment (unset or empty
    variables are left out)."""
    arguments = [
        f"{field}={json.dumps(environ[name])}"
        for name, field in FIELDS.items()
        if environ.get(name)
    ]
    bypass = [cidr.strip() for cidr in environ.get("BYPASS", "").split(",") if cidr.strip()]
    if bypass:
        arguments.append(f"bypass={json.dumps(bypass)}")
    return arguments


def main(argv):
    if len(argv) < 3 or argv[0] not in ("start", "stop") or argv[1] != "--":
        sys.exit(__doc__)
    action, command = argv[0], argv[2:]
    command.append(f"haproxy_maint.{action}")
    if action == "start":
        command += start_arguments(os.environ)
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
