"""A request's fields (saltext_haproxy_maint.request): bypass CIDRs, eta_at."""

import pytest
from salt.exceptions import SaltInvocationError

from saltext_haproxy_maint import request as contract


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ([], []),
        (["127.0.0.2"], ["127.0.0.2/32"]),
        (
            ["192.0.2.0/28", "10.0.0.0/8", "2001:db8::/48", "10.0.0.0/8"],
            ["10.0.0.0/8", "192.0.2.0/28", "2001:db8::/48"],
        ),
    ],
)
def test_check_bypass_gives_canonical_cidrs(value, expected):
    assert contract.check_bypass(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.0/8",
        ["0.0.0.0/0"],
        ["::/0"],
        ["128.0.0.0/1"],
        ["::ffff:0:0/96"],
        ["10.0.0.1/8"],
        ["x;y"],
        ["a" * 60],
        [None],
        ["10.0.0.0/8"] * 65,
    ],
)
def test_check_bypass_refuses(value):
    with pytest.raises(SaltInvocationError):
        contract.check_bypass(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        ("2026-11-26T22:00:00Z", "2026-11-26T22:00:00Z"),
        ("2026-11-26T23:30:00+01:00", "2026-11-26T22:30:00Z"),
    ],
)
def test_check_eta_at_gives_utc_iso(value, expected):
    assert contract.check_eta_at(value) == expected


@pytest.mark.parametrize(
    "value", ["2026-11-26 22:00", "2026-11-26", "soon", 5, "2026-13-01T00:00Z"]
)
def test_check_eta_at_refuses(value):
    with pytest.raises(SaltInvocationError):
        contract.check_eta_at(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ([], []),
        (["/checkout", "/a/b-c_d.e:f+g=h@i", "/checkout"], ["/checkout", "/a/b-c_d.e:f+g=h@i"]),
        (["/"], ["/"]),
    ],
)
def test_check_paths_keeps_order_without_duplicates(value, expected):
    assert contract.check_paths(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "/checkout",
        ["checkout"],
        ["/check out"],
        ["/a\nb"],
        ["/a\tb"],
        ["/a;clear map x"],
        ["/a?b=1"],
        ["/a#b"],
        ["/a'b"],
        [""],
        [7],
        ["/" + "a" * 190],
        ["/caf%C3%A9"],
        ["/~user"],
        [f"/p{index}" for index in range(51)],
    ],
)
def test_check_paths_refuses(value):
    with pytest.raises(SaltInvocationError, match="path"):
        contract.check_paths(value)


def test_parse_takes_paths_for_a_start_only():
    _, _, params = contract.parse("maint/start", {"env": "dev", "paths": ["/checkout"]})
    assert params["paths"] == ["/checkout"]
    with pytest.raises(SaltInvocationError, match="unknown fields: paths"):
        contract.parse("maint/stop", {"env": "dev", "paths": ["/checkout"]})
    assert "paths" in contract.LB_FIELDS["start"]


def test_every_accepted_path_makes_a_map_key_the_runtime_api_takes():
    from saltext_haproxy_maint import runtime

    longest = "/" + "a:b+c=d@e-f_g." * 20
    (path,) = contract.check_paths([longest[: contract.PATH_MAX_LENGTH]])
    assert runtime.check_pattern_value("b" * 64 + path, "map key")
