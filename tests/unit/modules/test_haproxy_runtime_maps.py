"""haproxy_runtime's maps and ACLs (_modules/haproxy_runtime_maps.py) without a running
haproxy: what is checked before anything is sent, and what one batch carries."""

import pytest
from salt.exceptions import SaltInvocationError

from _modules import haproxy_runtime_maps


@pytest.mark.parametrize(
    "call",
    [
        lambda: haproxy_runtime_maps.replace_acl("/v/bypass.acl", ["127.0.0.2/32; clear map /v/m"]),
        lambda: haproxy_runtime_maps.replace_acl("/v/bypass.acl", ["10.0.0.0/8\nshutdown"]),
        lambda: haproxy_runtime_maps.replace_acl("/v/bypass.acl", "127.0.0.2/32"),
        lambda: haproxy_runtime_maps.replace_acl("v/bypass.acl", []),
        lambda: haproxy_runtime_maps.replace_acl("/v/by pass.acl", []),
        lambda: haproxy_runtime_maps.replace_map("/v/m.map", {"app;x": "0"}),
        lambda: haproxy_runtime_maps.replace_map("/v/m.map", {"app": "0 1"}),
        lambda: haproxy_runtime_maps.replace_map("/v/m.map", ["app"]),
        lambda: haproxy_runtime_maps.show_map("/v/m.map;show info"),
    ],
)
def test_acl_and_map_input_is_checked_before_sending(monkeypatch, call):
    def never(*args, **kwargs):
        raise AssertionError("nothing may be sent")

    monkeypatch.setattr(haproxy_runtime_maps, "_batch", never)
    with pytest.raises(SaltInvocationError):
        call()


def test_replace_map_sends_clear_then_adds_in_one_batch(monkeypatch):
    sent = []

    def batch(commands, socket, timeout):
        sent.append(commands)
        return [""] * len(commands)

    monkeypatch.setattr(haproxy_runtime_maps, "_batch", batch)
    haproxy_runtime_maps.replace_map("/v/m.map", {"app": 0, "api": "1795730400"}, socket="/x.sock")
    assert sent == [
        ["clear map /v/m.map", "add map /v/m.map api 1795730400", "add map /v/m.map app 0"]
    ]


def test_list_acls_sends_show_acl_and_keeps_the_acls_loaded_from_files(monkeypatch):
    answer = (
        "# id (file) description\n"
        "0 (/v/bypass.acl) pattern loaded from file '/v/bypass.acl' used by acl at file "
        "'h.cfg' line 11. curr_ver=0 next_ver=0 entry_cnt=0\n"
        "1 () acl 'src' file 'h.cfg' line 11. curr_ver=0 next_ver=0 entry_cnt=0\n"
    )
    sent = []

    def batch(commands, socket, timeout):
        sent.append(commands)
        return [answer]

    monkeypatch.setattr(haproxy_runtime_maps, "_batch", batch)
    assert haproxy_runtime_maps.list_acls(socket="/x.sock") == [{"id": 0, "file": "/v/bypass.acl"}]
    assert sent == [["show acl"]]
