"""Which backends an LB maintains (saltext_haproxy_maint.discovery): from the pillar, or with
manage_config false from what the running HAProxy shows."""

import copy

import pytest
import yaml
from salt.exceptions import SaltInvocationError

from harness import REPO
from saltext_haproxy_maint import discovery, lbconfig

DEFAULTS = yaml.safe_load((REPO / "salt/haproxy_maint/defaults.yaml").read_text())["haproxy_maint"]
SORRY = "127.0.0.1:8080"


def server(address, backup=False):
    return {"address": address, "backup": backup, "admin": "ready"}


# What server_status shows of a config another tool rendered: "https-in" has the sorry
# server as backup, "static" has none, "api" has a backup elsewhere, "https-in:bypass" is
# the visitor block's bypass backend.
LIVE = {
    "https-in": {
        "server01": server("127.0.0.1:9001"),
        "server02": server("127.0.0.1:9002"),
        "localhost": server(SORRY, backup=True),
    },
    "https-in:bypass": {
        "server01": server("127.0.0.1:9001"),
        "localhost": server(SORRY, backup=True),
    },
    "static": {"static1": server("127.0.0.1:9003")},
    "api": {"api1": server("127.0.0.1:9004"), "spare": server("127.0.0.1:9005", backup=True)},
    "stats": {},
}


def own_config(**haproxy):
    pillar = {"haproxy": {"manage_config": False, **haproxy}}
    return lbconfig.lb_config(copy.deepcopy(DEFAULTS), pillar)


def requested(cfg, backends):
    return discovery.requested_backends(cfg, backends, server_status=lambda: LIVE)


def test_only_backends_with_the_sorry_server_as_backup_are_maintained():
    cfg = own_config()
    assert discovery.maintained_backends(cfg, server_status=lambda: LIVE) == ["https-in"]
    assert requested(cfg, None) == ["https-in"]


def test_a_managed_config_asks_the_pillar_not_haproxy():
    cfg = lbconfig.lb_config(copy.deepcopy(DEFAULTS), {})

    def unreachable():
        raise AssertionError("the running HAProxy was asked")

    assert discovery.maintained_backends(cfg, server_status=unreachable) == []


def test_an_unknown_backend_is_refused_with_those_that_exist():
    with pytest.raises(SaltInvocationError) as err:
        requested(own_config(), ["shop"])
    assert "unknown backend 'shop'" in str(err.value)
    assert "has api, https-in, static, stats" in str(err.value)
    assert "(maintained: https-in)" in str(err.value)


@pytest.mark.parametrize("name", ["static", "api"])
def test_a_backend_without_the_sorry_backup_is_refused_with_the_line_to_add(name):
    with pytest.raises(SaltInvocationError) as err:
        requested(own_config(), [name])
    assert f"backend {name!r} lacks a backup server at {SORRY}" in str(err.value)
    assert "`server localhost 127.0.0.1:8080 maxconn 500 backup`" in str(err.value)


def test_a_bypass_backend_is_not_a_backend_to_maintain():
    with pytest.raises(SaltInvocationError, match="unknown backend 'https-in:bypass'"):
        requested(own_config(), ["https-in:bypass"])


def test_no_sorry_backup_anywhere_refuses_a_start_of_every_backend():
    live = {"static": LIVE["static"]}
    with pytest.raises(
        SaltInvocationError, match="no backend of the running HAProxy has a backup server at"
    ):
        discovery.requested_backends(own_config(), None, server_status=lambda: live)


def test_the_pillar_narrows_what_haproxy_has():
    live = {**LIVE, "shop": dict(LIVE["https-in"])}
    cfg = own_config(maintain=["shop"])
    assert discovery.requested_backends(cfg, None, server_status=lambda: live) == ["shop"]
    with pytest.raises(SaltInvocationError, match="not in the pillar's haproxy:maintain"):
        discovery.requested_backends(cfg, ["https-in"], server_status=lambda: live)


def test_the_sorry_server_is_not_a_backend():
    with pytest.raises(SaltInvocationError, match="sorry server"):
        requested(own_config(), ["localhost"])


@pytest.mark.parametrize(
    ("haproxy", "key"),
    [
        ({"maintain": ["app"]}, "haproxy_maint:haproxy:maintain"),
        (
            {"manage_config": False, "backends": {"app": {"servers": {"a": "127.0.0.1:1"}}}},
            "haproxy_maint:haproxy:backends",
        ),
        ({"manage_config": False, "maintain": ["a;b"]}, "haproxy_maint:haproxy:maintain:0"),
        ({"manage_config": "no"}, "haproxy_maint:haproxy:manage_config"),
    ],
)
def test_pillar_mistakes_name_the_key(haproxy, key):
    with pytest.raises(SaltInvocationError, match=f"pillar key {key}: "):
        lbconfig.lb_config(copy.deepcopy(DEFAULTS), {"haproxy": haproxy})


def test_a_sorry_host_given_as_a_name_matches_the_address_haproxy_shows():
    cfg = lbconfig.lb_config(
        copy.deepcopy(DEFAULTS),
        {"haproxy": {"manage_config": False}, "sorry_server": {"host": "localhost"}},
    )
    assert discovery.maintained_backends(cfg, server_status=lambda: LIVE) == ["https-in"]
