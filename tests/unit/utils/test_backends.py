"""A backend's own settings (saltext_haproxy_maint.backends, through lbconfig.validate):
servers with options, check, persistence, balance, timeouts, raw lines; bad keys named."""

import copy

import pytest
import yaml
from salt.exceptions import SaltInvocationError
from salt.utils.dictupdate import merge

from harness import REPO
from saltext_haproxy_maint import lbconfig

DEFAULTS = yaml.safe_load((REPO / "salt/haproxy_maint/defaults.yaml").read_text())["haproxy_maint"]
BIND = {"http": "127.0.0.1:80", "https": ""}


def config_with(**app):
    """The defaults with one backend ``app`` whose keys are ``app``."""
    backend = {"servers": {"app1": "127.0.0.1:8001"}, "bind": BIND, **app}
    pillar = {"haproxy": {"backends": {"app": backend}}}
    return merge(copy.deepcopy(DEFAULTS), pillar, merge_lists=False)


def app(**keys):
    return lbconfig.validate(config_with(**keys))["haproxy"]["backends"]["app"]


def test_defaults_add_nothing():
    backend = app()
    assert backend["servers"] == {"app1": "127.0.0.1:8001"}
    assert backend["server_settings"] == {"app1": {"weight": None, "ssl": None, "check": True}}
    assert (backend["check"], backend["persistence"], backend["timeouts"], backend["raw"]) == (
        {},
        {},
        {},
        [],
    )


def test_check_is_completed_with_check_defaults():
    assert app(check={"path": "/health"})["check"] == {
        "method": "GET",
        "path": "/health",
        "host": "",
        "status": 200,
    }
    assert app(check={"path": "/", "status": "200-399", "method": "HEAD"})["check"]["status"] == (
        "200-399"
    )


def test_server_options():
    servers = {
        "app1": {"address": "127.0.0.1:8001", "weight": 50, "check": False},
        "app2": {"address": "127.0.0.1:8002", "ssl": {"verify": "required"}},
        "app3": {"address": "127.0.0.1:8003", "ssl": {"verify": "none"}},
    }
    backend = app(servers=servers)
    assert backend["servers"]["app1"] == "127.0.0.1:8001"
    assert backend["server_settings"]["app1"] == {"weight": 50, "ssl": None, "check": False}
    assert backend["server_settings"]["app2"]["ssl"] == {
        "verify": "required",
        "ca_file": "@system-ca",
    }
    assert backend["server_settings"]["app3"]["ssl"]["verify"] == "none"


@pytest.mark.parametrize(
    "balance", ["roundrobin", "uri whole", "hdr(host)", "url_param userid check_post", "random(2)"]
)
def test_balance_takes_arguments(balance):
    assert app(balance=balance)["balance"] == balance


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        ({"raw": ["http-response set-header A b\nfrontend x"]}, "raw:0"),
        ({"raw": ["frontend x"]}, "raw:0"),
        ({"raw": ["defaults"]}, "raw:0"),
        ({"raw": ["option\x00x"]}, "raw:0"),
        ({"raw": "option httplog"}, "raw"),
        ({"check": {"path": "health"}}, "check:path"),
        ({"check": {"path": "/h", "status": 99}}, "check:status"),
        ({"check": {"path": "/h", "method": "DELETE"}}, "check:method"),
        ({"check": {"path": "/h", "host": "a b"}}, "check:host"),
        ({"check": {"path": "/h", "expect": 200}}, "check:expect"),
        ({"check": "/health"}, "check"),
        ({"persistence": {"cookie": "A B"}}, "persistence:cookie"),
        ({"persistence": {"stick": "cookie"}}, "persistence:stick"),
        ({"persistence": {"cookie": "A", "stick": "src"}}, "persistence"),
        ({"persistence": {"table": "x"}}, "persistence"),
        ({"timeouts": {"client": "1s"}}, "timeouts:client"),
        ({"timeouts": {"server": "soon"}}, "timeouts:server"),
        ({"balance": "uri\nwhole"}, "balance"),
        ({"balance": "hdr(a b)"}, "balance"),
        ({"servers": {"app1": {"weight": 1}}}, "servers:app1:address"),
        ({"servers": {"app1": {"address": "h:1", "port": 2}}}, "servers:app1:port"),
        ({"servers": {"app1": {"address": "h:1", "weight": 257}}}, "servers:app1:weight"),
        ({"servers": {"app1": {"address": "h:1", "weight": True}}}, "servers:app1:weight"),
        ({"servers": {"app1": {"address": "h:1", "check": "no"}}}, "servers:app1:check"),
        (
            {"servers": {"app1": {"address": "h:1", "ssl": {"verify": "yes"}}}},
            "servers:app1:ssl:verify",
        ),
        (
            {
                "servers": {
                    "app1": {"address": "h:1", "ssl": {"verify": "required", "ca_file": "ca"}}
                }
            },
            "servers:app1:ssl:ca_file",
        ),
        ({"servers": {"app1": {"address": "h"}}}, "servers:app1:address"),
    ],
)
def test_bad_backend_key_is_named(keys, key):
    with pytest.raises(
        SaltInvocationError, match=f"pillar key haproxy_maint:haproxy:backends:app:{key}: "
    ):
        lbconfig.validate(config_with(**keys))


@pytest.mark.parametrize(
    ("section", "line"), [("global", "tune.bufsize 1\npeers x"), ("defaults", "backend x")]
)
def test_bad_raw_global_and_defaults_lines_are_named(section, line):
    config = config_with()
    config["haproxy"]["raw"][section] = ["option httplog", line]
    with pytest.raises(
        SaltInvocationError, match=f"pillar key haproxy_maint:haproxy:raw:{section}:1: "
    ):
        lbconfig.validate(config)


def test_sorry_check_backend_name_is_reserved():
    config = config_with()
    config["sorry_server"]["check_backend"] = "app"
    with pytest.raises(SaltInvocationError, match="haproxy_maint:haproxy:backends:app: "):
        lbconfig.validate(config)


@pytest.mark.parametrize(
    ("certificates", "key"),
    [
        ({"shop": {"pem": "x"}}, "shop:pem"),
        ({"shop": {"pem": ""}}, "shop:pem"),
        ({"shop": {"pem_source": "/etc/x.pem"}}, "shop:pem_source"),
        ({"shop": {"pem": "-----BEGIN X", "pem_source": "salt://x"}}, "shop"),
        ({"site": {"pem_source": "salt://x.pem"}}, "site"),
        ({"a;b": {"pem_source": "salt://x.pem"}}, "a;b"),
    ],
)
def test_bad_certificate_is_named(certificates, key):
    config = config_with()
    config["tls"]["certificates"] = certificates
    with pytest.raises(
        SaltInvocationError, match=f"pillar key haproxy_maint:tls:certificates:{key}: "
    ):
        lbconfig.validate(config)


def test_certificates_are_masked():
    config = config_with()
    config["tls"]["certificates"] = {"a": {"pem": "-----BEGIN X"}, "b": {"pem_source": "salt://b"}}
    masked = lbconfig.masked(lbconfig.validate(config))["tls"]["certificates"]
    assert masked == {"a": {"pem": lbconfig.MASKED_VALUE}, "b": {"pem_source": "salt://b"}}
