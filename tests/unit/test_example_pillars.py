"""Every example pillar (pillar/haproxy_maint/*.sls) starts: rendered as Salt's pillar does
(the file, its ``include``s merged under it), merged over defaults.yaml and validated by the
contract's LB configuration, and no frontend binds the sorry server's address and port."""

import pytest
import yaml
from salt.utils.dictupdate import merge

from harness import REPO
from saltext_haproxy_maint import schema

PILLAR_ROOT = REPO / "pillar"
EXAMPLES = sorted((PILLAR_ROOT / "haproxy_maint").glob("*.sls"))
DEFAULTS_FILE = REPO / "salt/haproxy_maint/defaults.yaml"


# The one place that knows where the LB config's contract lives.
@pytest.fixture(scope="module")
def contract():
    from saltext_haproxy_maint import lbconfig

    return lbconfig


@pytest.fixture(scope="module")
def defaults():
    return yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))["haproxy_maint"]


def render(path):
    """The pillar data of one SLS file as Salt's pillar builds it: every ``include`` first,
    then the file itself merged over them (dicts recursively, lists replaced). The examples
    are plain YAML; one that starts using Jinja must be rendered with Salt's renderer here."""
    text = path.read_text(encoding="utf-8")
    assert "{%" not in text and "{{" not in text, f"{path.name} uses Jinja: render it with Salt"
    data = yaml.safe_load(text) or {}
    pillar = {}
    for name in data.pop("include", []):
        pillar = merge(pillar, render(PILLAR_ROOT.joinpath(*name.split(".")).with_suffix(".sls")))
    return merge(pillar, data, merge_lists=False)


def _collides(bind, sorry):
    """A bind takes the sorry server's address: same port, same host or a wildcard."""
    host, port = schema.split_hostport("bind", bind)
    return port == sorry["port"] and host in ("", "*", "0.0.0.0", "[::]", sorry["host"])


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_pillar_passes_the_contract(path, contract, defaults):
    config = contract.lb_config(defaults, render(path).get("haproxy_maint"))
    sorry = config["sorry_server"]
    for section in ("backends", "frontends"):
        for name, proxy in config["haproxy"][section].items():
            for kind, bind in proxy["bind"].items():
                assert not (bind and _collides(bind, sorry)), (
                    f"{path.name}: haproxy:{section}:{name}:bind:{kind} {bind} takes the "
                    f"sorry server's {sorry['host']}:{sorry['port']}"
                )


def test_every_environment_example_is_in_the_top_file():
    top = yaml.safe_load((PILLAR_ROOT / "top.sls").read_text(encoding="utf-8"))
    assigned = {item for items in top["base"].values() for item in items if isinstance(item, str)}
    environments = {f"haproxy_maint.{path.stem}" for path in EXAMPLES if path.stem != "base"}
    assert environments <= assigned
