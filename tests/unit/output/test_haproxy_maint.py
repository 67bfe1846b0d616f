"""The status outputter, and the runbook's sample table, which must be its real output."""

import json
import re

from _output import haproxy_maint as outputter
from harness import REPO

REPORT = json.loads((REPO / "docs/examples/status-report.json").read_text())


def runbook_table():
    text = (REPO / "docs/runbook.md").read_text()
    block = re.search(
        r"<!-- status-table -->\n```text\n(.*?)\n```\n<!-- /status-table -->", text, re.S
    )
    assert block, "docs/runbook.md lost its status-table markers"
    return block.group(1)


def test_the_runbook_shows_what_the_outputter_prints():
    assert outputter.output(REPORT) == runbook_table()


def test_table_names_every_server_and_the_maintenance_state():
    text = outputter.output(REPORT)
    for env, data in REPORT["envs"].items():
        assert f"env {env}: maintenance" in text
        for lb, out in data["lbs"].items():
            for servers in (out.get("backends") or {}).values():
                for server in servers:
                    assert re.search(rf"{re.escape(lb)}\s+\S+\s+{re.escape(server)}\b", text)


def test_an_lb_that_did_not_answer_is_shown_with_why():
    report = {
        "envs": {
            "prod": {
                "desired": {},
                "lbs": {"lb9": {"outcome": "did not answer", "why": "Minion did not return"}},
            }
        }
    }
    assert "lb9: did not answer: Minion did not return" in outputter.output(report)


def test_a_rejection_is_shown():
    assert "rejected: unknown env" in outputter.output({"envs": {}, "why": "unknown env 'x'"})


def test_path_scoped_maintenance_is_shown():
    lb = {
        "outcome": "ok",
        "maintenance": True,
        "sorry_server": "up",
        "haproxy": "up",
        "paths_in_maintenance": {"app": ["/checkout", "/pay/"]},
        "backends": {},
    }
    desired = {"active": True, "paths": {"app": ["/checkout", "/pay/"]}}
    text = outputter.output({"envs": {"prod": {"desired": desired, "lbs": {"lb1": lb}}}})
    assert "env prod: maintenance ON, app paths /checkout, /pay/" in text
    assert "lb1 [MAINT] sorry server up, haproxy up; app paths /checkout, /pay/" in text
