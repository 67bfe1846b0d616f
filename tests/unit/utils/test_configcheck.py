"""What an haproxy.cfg of one's own gives maintenance (saltext_haproxy_maint.configcheck):
each part found or named missing with its lines and cost, from the config's text and what
the runtime API shows."""

import copy

import pytest
import yaml
from salt.exceptions import SaltInvocationError

from harness import REPO
from saltext_haproxy_maint import configcheck, lbconfig

DEFAULTS = yaml.safe_load((REPO / "salt/haproxy_maint/defaults.yaml").read_text())["haproxy_maint"]
CFG = lbconfig.lb_config(copy.deepcopy(DEFAULTS), {"haproxy": {"manage_config": False}})
VISITOR_FILES = set(configcheck.visitor_files(CFG))
LIVE = {
    "www": {
        "server01": {"address": "10.0.0.11:80", "backup": False},
        "localhost": {"address": "127.0.0.1:8080", "backup": True},
    },
    "static": {"static1": {"address": "10.0.0.21:80", "backup": False}},
    "stats": {},
}
COMPLETE = """\
global
    stats socket /run/haproxy/admin.sock mode 660 level admin
    server-state-base /var/lib/haproxy
    server-state-file server-state   # relative to server-state-base
    lua-load /etc/haproxy/haproxy-maint.lua
defaults
    load-server-state-from-file global
"""


def report(text, **runtime):
    runtime = {"live": LIVE, "loaded": VISITOR_FILES, "cli_level": "admin\n", **runtime}
    return configcheck.report(CFG, config_text=text, **runtime)


def test_a_config_with_every_part_is_complete():
    answer = report(COMPLETE)
    assert answer["parts"]["state_file"] == {
        "present": True,
        "server_state_file": "/var/lib/haproxy/server-state",
    }
    # static has app servers but no sorry backup: named, with the line to add and its cost.
    assert answer["parts"]["sorry_backup"]["without"] == ["static"]
    assert "left without a page" in answer["parts"]["sorry_backup"]["cost"]
    assert answer["complete"] is True


@pytest.mark.parametrize(
    ("text", "runtime", "part"),
    [
        (COMPLETE.replace("load-server-state-from-file global", ""), {}, "state_file"),
        (
            COMPLETE.replace("server-state-file server-state", "server-state-file x"),
            {},
            "state_file",
        ),
        (COMPLETE, {"cli_level": "operator\n"}, "admin_socket"),
        (COMPLETE.replace("lua-load", "# lua-load"), {}, "page_memory"),
        (COMPLETE, {"loaded": set()}, "visitor"),
        (COMPLETE, {"live": {"static": LIVE["static"]}}, "sorry_backup"),
    ],
)
def test_each_missing_part_says_what_to_add_and_what_it_costs(text, runtime, part):
    answer = report(text, **runtime)
    assert answer["complete"] is False
    assert answer["parts"][part]["present"] is False
    assert answer["parts"][part]["add"] and answer["parts"][part]["cost"] == configcheck.COSTS[part]
    others = {name: p["present"] for name, p in answer["parts"].items() if name != part}
    assert all(others.values()), others


def test_an_unreachable_haproxy_leaves_the_runtime_parts_unknown():
    answer = configcheck.report(CFG, config_text=COMPLETE, unreachable="no socket")
    assert answer["parts"]["admin_socket"]["present"] is False
    assert answer["parts"]["admin_socket"]["level"] == "unreachable: no socket"
    assert answer["parts"]["sorry_backup"] == {"present": None}
    assert answer["parts"]["visitor"] == {"present": None}
    assert answer["complete"] is False


def test_a_new_bypass_needs_the_map_and_the_bypass_acl():
    configcheck.check_bypass(CFG, bypass=["192.0.2.0/28"], loaded=lambda: VISITOR_FILES)
    configcheck.check_bypass(CFG, bypass=[], loaded=lambda: set())
    with pytest.raises(SaltInvocationError) as err:
        configcheck.check_bypass(CFG, bypass=["192.0.2.0/28"], loaded=lambda: set())
    assert CFG["visitor"]["map_file"] in str(err.value)
    assert "acl maint_bypass src -f /var/lib/haproxy-maint/visitor/bypass.acl" in str(err.value)


def test_sections_skip_comments_and_join_words():
    parsed = configcheck.sections("global  # g\n    stats   timeout 5s\nbackend www\n  # x\n")
    assert parsed == [("global", "", ["stats timeout 5s"]), ("backend", "www", [])]
