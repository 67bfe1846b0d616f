"""haproxy:frontends (saltext_haproxy_maint.frontends, through lbconfig.validate): the issue's
site passes, routes keep their order, every bad key is named."""

import copy

import pytest
import yaml
from salt.exceptions import SaltInvocationError
from salt.utils.dictupdate import merge

from harness import REPO
from saltext_haproxy_maint import frontends, lbconfig

DEFAULTS = yaml.safe_load((REPO / "salt/haproxy_maint/defaults.yaml").read_text())["haproxy_maint"]
# The pillar of issue 17, which must converge as written on the dev LB.
SITE = yaml.safe_load("""
env: dev
haproxy:
  frontends:
    www:
      bind: {http: 127.0.0.1:80, https: 127.0.0.1:443}
      routes:
        - {backend: api, host: api.example.test}
        - {backend: shop, path_beg: /shop/}
      default_backend: app
  backends:
    app:  {servers: {app1: 127.0.0.1:8001, app2: 127.0.0.1:8002}}
    shop: {servers: {shop1: 127.0.0.1:8021}, check: {path: /health}, persistence: {cookie: SHOPSRV}}
    api:  {servers: {api1: 127.0.0.1:8031}}
""")


def site(**frontend):
    """The site's map with keys of frontend www replaced."""
    pillar = copy.deepcopy(SITE)
    pillar["haproxy"]["frontends"]["www"].update(frontend)
    return merge(copy.deepcopy(DEFAULTS), pillar, merge_lists=False)


def test_the_issue_pillar_passes_and_routed_backends_need_no_bind():
    config = lbconfig.validate(site())
    www = config["haproxy"]["frontends"]["www"]
    assert [route["backend"] for route in www["routes"]] == ["api", "shop"]
    assert www["routes"][0] == {
        "backend": "api",
        "host": "api.example.test",
        "path_beg": "",
        "path": "",
    }
    assert www["default_backend"] == "app"
    assert www["redirect_https"] is False
    for backend in config["haproxy"]["backends"].values():
        assert backend["bind"] == {"http": "", "https": ""}
    assert frontends.routed_backends(config["haproxy"]["frontends"]) == {"api", "shop", "app"}


def test_a_backend_with_its_own_bind_keeps_its_frontend():
    config = site()
    config["haproxy"]["backends"]["api"]["bind"] = {"http": "127.0.0.1:8081", "https": ""}
    checked = lbconfig.validate(config)
    assert checked["haproxy"]["backends"]["api"]["bind"]["http"] == "127.0.0.1:8081"
    assert checked["haproxy"]["backends"]["app"]["bind"]["http"] == ""


def test_hosts_are_matched_in_lower_case():
    routes = [
        {"backend": "api", "host": "API.Example.test"},
        {"backend": "shop", "host": "*.X.test"},
    ]
    checked = lbconfig.validate(site(routes=routes))["haproxy"]["frontends"]["www"]["routes"]
    assert [route["host"] for route in checked] == ["api.example.test", "*.x.test"]


@pytest.mark.parametrize(
    ("frontend", "key"),
    [
        # The issue's list.
        ({"routes": [{"backend": "api", "hots": "a.test"}]}, "routes:0:hots"),
        ({"routes": [{"backend": "nope", "host": "a.test"}]}, "routes:0:backend"),
        (
            {"routes": [{"backend": "api", "path": "/a"}, {"backend": "shop", "path": "/a"}]},
            "routes:1",
        ),
        ({"routes": [{"backend": "api", "host": "a .test"}]}, "routes:0:host"),
        ({"routes": [{"backend": "api", "path_beg": "shop/"}]}, "routes:0:path_beg"),
        ({"raw": ["http-request deny\nbackend evil"]}, "raw:0"),
        ({"raw": ["backend evil"]}, "raw:0"),
        ({"raw": ["  Listen evil"]}, "raw:0"),
        # And the rest of a frontend.
        ({"routes": [{"backend": "api"}]}, "routes:0"),
        ({"routes": [{"host": "a.test"}]}, "routes:0:backend"),
        ({"routes": [{"backend": "api", "path": "/a b"}]}, "routes:0:path"),
        ({"routes": [{"backend": "api", "path": "/a'b"}]}, "routes:0:path"),
        ({"routes": [{"backend": "api", "host": "*a.test"}]}, "routes:0:host"),
        ({"routes": "api"}, "routes"),
        ({"default_backend": "nope"}, "default_backend"),
        ({"routes": [], "default_backend": ""}, ""),
        ({"bind": {"http": "", "https": ""}}, "bind"),
        ({"bind": {"http": "127.0.0.1:80", "https": ""}, "redirect_https": 301}, "redirect_https"),
        ({"redirect_https": 302}, "redirect_https"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_frontend_key_is_named(frontend, key):
    path = f"haproxy_maint:haproxy:frontends:www{':' + key if key else ''}"
    with pytest.raises(SaltInvocationError, match=f"pillar key {path}: "):
        lbconfig.validate(site(**frontend))


def test_a_frontend_named_like_a_backend_with_its_own_frontend_is_refused():
    config = site()
    config["haproxy"]["frontends"]["api"] = config["haproxy"]["frontends"].pop("www")
    config["haproxy"]["backends"]["app"]["bind"] = {"http": "127.0.0.1:8081", "https": ""}
    config["haproxy"]["frontends"]["app"] = {
        "bind": {"http": "127.0.0.1:81"},
        "default_backend": "api",
    }
    with pytest.raises(SaltInvocationError, match="haproxy_maint:haproxy:frontends:app: "):
        lbconfig.validate(config)


def test_frontend_binds_may_not_overlap_a_backend_bind():
    config = site()
    config["haproxy"]["backends"]["api"]["bind"] = {"http": "*:80"}
    with pytest.raises(
        SaltInvocationError, match=r"frontends:www:bind:http: 127\.0\.0\.1:80 overlaps"
    ):
        lbconfig.validate(config)


def test_a_backend_nobody_reaches_still_needs_a_bind():
    config = site()
    config["haproxy"]["backends"]["lost"] = {"servers": {"l1": "127.0.0.1:9"}}
    # backend_defaults' bind is *:80 and *:443: it overlaps the frontend's.
    with pytest.raises(SaltInvocationError, match="haproxy_maint:haproxy:frontends:www:bind"):
        lbconfig.validate(config)
    config["haproxy"]["backends"]["lost"]["bind"] = {"http": "", "https": ""}
    with pytest.raises(SaltInvocationError, match="haproxy_maint:haproxy:backends:lost:bind: "):
        lbconfig.validate(config)


def test_the_issue_pillar_merged_over_the_dev_example_gives_the_same_site():
    pillar = {}
    for name in ("base", "dev"):
        text = (REPO / f"pillar/haproxy_maint/{name}.sls").read_text()
        pillar = merge(pillar, yaml.safe_load(text)["haproxy_maint"], merge_lists=False)
    pillar = merge(pillar, copy.deepcopy(SITE), merge_lists=False)
    config = lbconfig.validate(merge(copy.deepcopy(DEFAULTS), pillar, merge_lists=False))
    alone = lbconfig.validate(site())
    assert config["haproxy"]["frontends"] == alone["haproxy"]["frontends"]
    assert config["haproxy"]["backends"] == alone["haproxy"]["backends"]


@pytest.mark.parametrize("bind", ["*:8080", "127.0.0.1:8080", ":8080"])
def test_no_frontend_takes_the_sorry_servers_address(bind):
    config = site(bind={"http": bind, "https": ""})
    with pytest.raises(SaltInvocationError, match=r"of haproxy_maint:sorry_server$"):
        lbconfig.validate(config)
