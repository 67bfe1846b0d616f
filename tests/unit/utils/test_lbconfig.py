"""One reading of an LB's config (saltext_haproxy_maint.lbconfig): good maps pass, every
bad key is named in the error, backend_defaults reach every backend."""

import copy

import pytest
import yaml
from salt.exceptions import SaltInvocationError
from salt.utils.dictupdate import merge

from harness import REPO
from saltext_haproxy_maint import lbconfig, schema

DEFAULTS = yaml.safe_load((REPO / "salt/haproxy_maint/defaults.yaml").read_text())["haproxy_maint"]
ENVIRONMENTS = ("prod", "staging", "dev")


def env_pillar(env):
    """The environment's pillar file over base.sls, as Salt's pillar include merges them."""
    pillar = {}
    for name in ("base", env):
        text = (REPO / f"pillar/haproxy_maint/{name}.sls").read_text()
        pillar = merge(pillar, yaml.safe_load(text).get("haproxy_maint", {}), merge_lists=False)
    return pillar


def merged(overrides):
    """defaults.yaml with ``overrides`` merged over it, as map.jinja does."""
    return merge(copy.deepcopy(DEFAULTS), copy.deepcopy(overrides), merge_lists=False)


def dev_with(**changes):
    """The dev map with ``changes`` merged over it (``a__b`` is key ``a:b``)."""
    overrides = env_pillar("dev")
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = overrides
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return merged(overrides)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_passes(env):
    config = lbconfig.validate(merged(env_pillar(env)))
    assert config["env"] == env
    assert config["haproxy"]["backends"]


def test_backend_defaults_fill_every_backend():
    config = lbconfig.validate(merged(env_pillar("dev")))
    app = config["haproxy"]["backends"]["app"]
    assert app["sorry"] is True
    assert app["balance"] == "roundrobin"
    # Frontend www routes to app, which has no bind of its own: no frontend of its own.
    assert app["bind"] == {"http": "", "https": ""}
    www = config["haproxy"]["frontends"]["www"]
    assert www["bind"] == {"http": "127.0.0.1:80", "https": "127.0.0.1:443"}
    assert www["default_backend"] == "app"


def test_defaults_alone_pass():
    assert lbconfig.validate(merged({}))["haproxy"]["backends"] == {}


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        (
            {"haproxy__backends__app__servers__app1": "127.0.0.1"},
            "haproxy:backends:app:servers:app1",
        ),
        ({"haproxy__backends__app__servers__app1": "h:70000"}, "haproxy:backends:app:servers:app1"),
        ({"haproxy__backends__app__servers__app1": 8001}, "haproxy:backends:app:servers:app1"),
        (
            {"haproxy__backends__app__servers__bad;name": "h:1"},
            "haproxy:backends:app:servers:bad;name",
        ),
        ({"haproxy__backends__app__servers": {}}, "haproxy:backends:app:servers"),
        ({"haproxy__backends__app__sorry": "yes"}, "haproxy:backends:app:sorry"),
        ({"haproxy__backends__app__colour": "red"}, "haproxy:backends:app:colour"),
        (
            {"haproxy__backends__app__servers__localhost": "h:1"},
            "haproxy:backends:app:servers:localhost",
        ),
        # backend_defaults' bind (*:80) overlaps frontend www's 127.0.0.1:80.
        ({"haproxy__backends__two": {"servers": {"a": "h:1"}}}, "haproxy:frontends:www:bind:http"),
        ({"haproxy__runtime__socket": "run/admin.sock"}, "haproxy:runtime:socket"),
        ({"haproxy__runtime__tcp": "0.0.0.0:9999"}, "haproxy:runtime:tcp"),
        ({"haproxy__runtime__tcp": "10.0.0.1:9999"}, "haproxy:runtime:tcp"),
        ({"haproxy__runtime__mode": "666x"}, "haproxy:runtime:mode"),
        ({"haproxy__runtime__mode": "666"}, "haproxy:runtime:mode"),
        ({"haproxy__runtime__mode": "604"}, "haproxy:runtime:mode"),
        ({"haproxy__backends__app__servers__" + "a" * 65: "h:1"}, "haproxy:backends:app:servers"),
        ({"sorry_server__name": "sorry;x"}, "sorry_server:name"),
        ({"maintenance__not_up_wait": -1}, "maintenance:not_up_wait"),
        ({"maintenance__close_sessions_after": 61}, "maintenance:close_sessions_after"),
        ({"maintenance__close_sessions_after": "2"}, "maintenance:close_sessions_after"),
        ({"maintenance__close_sessions_after": True}, "maintenance:close_sessions_after"),
        (
            {"haproxy__resolvers__nameservers": {"ns1": "dns.example:53"}},
            "haproxy:resolvers:nameservers:ns1",
        ),
        ({"haproxy__resolvers__enabled": "yes"}, "haproxy:resolvers:enabled"),
        ({"haproxy__resolvers__hold_valid": "a while"}, "haproxy:resolvers:hold_valid"),
        ({"haproxy__runtime__timeout": "5"}, "haproxy:runtime:timeout"),
        ({"haproxy__runtime": None}, "haproxy:runtime"),
        ({"haproxy__config_file": "haproxy.cfg"}, "haproxy:config_file"),
        ({"haproxy__service__manager": "systemd"}, "haproxy:service:manager"),
        ({"haproxy__default_server__inter": "1s\nstats"}, "haproxy:default_server:inter"),
        ({"haproxy__timeouts__client": "soon"}, "haproxy:timeouts:client"),
        ({"sorry_server__port": 0}, "sorry_server:port"),
        ({"sorry_server__autostart": "true"}, "sorry_server:autostart"),
        ({"page__root": "www"}, "page:root"),
        ({"page__archive": {"source": "salt://p.tgz"}}, "page:archive:source_hash"),
        ({"tls__pem": "not a certificate"}, "tls:pem"),
        ({"supervisor__conf_file": None}, "supervisor:conf_file"),
        ({"maintenance__drain_timeout": -1}, "maintenance:drain_timeout"),
        ({"env": "pr od"}, "env"),
        ({"typo": 1}, "typo"),
    ],
)
def test_bad_key_is_named(changes, key):
    with pytest.raises(SaltInvocationError, match=f"haproxy_maint:{key}[: ]"):
        lbconfig.validate(dev_with(**changes))


@pytest.mark.parametrize("address", ["127.0.0.1:9999", "127.1.2.3:1", "[::1]:9999"])
def test_loopback_tcp_socket_passes(address):
    assert lbconfig.validate(dev_with(haproxy__runtime__tcp=address))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.200.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
    ],
)
def test_is_loopback(host, expected):
    assert schema.is_loopback(host) is expected


def test_split_hostport_ipv6():
    assert schema.split_hostport("k", "[::1]:8080") == ("[::1]", 8080)


def test_lb_config_merges_pillar_over_defaults_once_for_everyone():
    pillar = env_pillar("dev")
    pillar["haproxy"]["backend_defaults"] = {"sorry": False}
    config = lbconfig.lb_config(copy.deepcopy(DEFAULTS), pillar)
    assert config["haproxy"]["backends"]["app"]["sorry"] is False
    assert lbconfig.maintained_backends(config) == []
    assert config["sorry_server"]["port"] == DEFAULTS["sorry_server"]["port"]


def test_lb_config_refuses_a_pillar_that_is_not_a_mapping():
    with pytest.raises(SaltInvocationError, match="haproxy_maint"):
        lbconfig.lb_config(copy.deepcopy(DEFAULTS), "prod")


# --- the visitor's side (issue 9) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"visitor__bypass__secret": "short"}, "visitor:bypass:secret"),
        ({"visitor__bypass__secret": "a-long-secret-with;semicolon"}, "visitor:bypass:secret"),
        ({"visitor__bypass__cookie": "bad cookie"}, "visitor:bypass:cookie"),
        ({"visitor__bypass__header": "X-Bypass:"}, "visitor:bypass:header"),
        ({"visitor__map_file": "maintenance.map"}, "visitor:map_file"),
        ({"visitor__retry_after": "300"}, "visitor:retry_after"),
        ({"visitor__poll_interval": 0}, "visitor:poll_interval"),
        ({"visitor__max_file_bytes": 0}, "visitor:max_file_bytes"),
        ({"visitor__max_file_bytes": 1.5}, "visitor:max_file_bytes"),
        ({"visitor__max_file_bytes": 2 * 1048576}, "visitor:max_file_bytes"),
        ({"visitor__status_file": "status.json"}, "visitor:status_file"),
        ({"visitor__lua_file": "haproxy-maint.lua"}, "visitor:lua_file"),
        ({"sorry_server__maxqueue": -1}, "sorry_server:maxqueue"),
    ],
)
def test_bad_visitor_key_is_named(changes, key):
    with pytest.raises(SaltInvocationError, match=f"haproxy_maint:{key}[: ]"):
        lbconfig.validate(dev_with(**changes))


def test_status_file_outside_the_chroot_is_refused():
    """HAProxy's Lua task reads the status document after HAProxy entered its chroot."""
    with pytest.raises(SaltInvocationError, match="visitor:status_file: must be inside"):
        lbconfig.validate(dev_with(visitor__status_file="/var/www/status.json"))
    config = lbconfig.validate(
        dev_with(haproxy__chroot="", visitor__status_file="/var/www/status.json")
    )
    assert config["visitor"]["status_file"] == "/var/www/status.json"


def test_backend_named_like_a_bypass_backend_is_refused():
    backend = {"servers": {"a": "h:1"}, "bind": {"http": "127.0.0.1:81", "https": ""}}
    with pytest.raises(SaltInvocationError, match="haproxy:backends:x:bypass: ends with"):
        lbconfig.validate(dev_with(**{"haproxy__backends__x:bypass": backend}))


def test_bad_secret_is_not_in_the_message():
    secret = "almost-a-secret-but-with space"
    with pytest.raises(SaltInvocationError) as err:
        lbconfig.validate(dev_with(visitor__bypass__secret=secret))
    assert secret not in str(err.value)


def test_good_secret_passes():
    config = lbconfig.validate(dev_with(visitor__bypass__secret="A" * 16 + "_-9"))
    assert config["visitor"]["bypass"]["secret"] == "A" * 16 + "_-9"


# --- issue 21: the sorry server's address, the page's poll floor --------------------------


@pytest.mark.parametrize("bind", ["*:8080", ":8080", "0.0.0.0:8080", "127.0.0.1:8080"])
def test_a_bind_on_the_sorry_servers_address_names_both_keys(bind):
    # The sorry server listens on 127.0.0.1:8080 (defaults.yaml). (dev's app is reached
    # through frontend www; a bind of its own gives it its own frontend too.)
    with pytest.raises(SaltInvocationError) as err:
        lbconfig.validate(dev_with(haproxy__backends__app__bind={"http": bind, "https": ""}))
    message = str(err.value)
    assert "haproxy_maint:haproxy:backends:app:bind:http" in message
    assert "haproxy_maint:sorry_server" in message
    # Another address on the same port is free.
    free = {"http": "127.0.0.2:8080", "https": ""}
    config = lbconfig.validate(dev_with(haproxy__backends__app__bind=free))
    assert config["haproxy"]["backends"]["app"]["bind"]["http"] == "127.0.0.2:8080"


def test_a_sorry_server_named_localhost_is_127_0_0_1():
    with pytest.raises(SaltInvocationError, match="haproxy_maint:sorry_server"):
        lbconfig.validate(
            dev_with(
                sorry_server__host="localhost", haproxy__backends__app__bind__http="127.0.0.1:8080"
            )
        )


@pytest.mark.parametrize("interval", [1, 1.5, 0.5])
def test_a_poll_interval_below_the_pages_floor_is_refused(interval):
    with pytest.raises(SaltInvocationError, match=r"visitor:poll_interval: .* floor of 2 seconds"):
        lbconfig.validate(dev_with(visitor__poll_interval=interval))


def test_the_poll_floor_passes_and_is_the_pages_own():
    config = lbconfig.validate(dev_with(visitor__poll_interval=lbconfig.POLL_INTERVAL_MIN))
    assert config["visitor"]["poll_interval"] == 2
    page = (REPO / "salt/haproxy_maint/files/page/index.html").read_text()
    assert f"var MIN_POLL_S = {lbconfig.POLL_INTERVAL_MIN};" in page
