"""The page's status document: one line for HAProxy's memory, and the wait until HAProxy
holds it."""

import json

from saltext_haproxy_maint import record

CFG = {"visitor": {"poll_interval": 15}}


def test_the_status_document_is_one_line_of_ascii():
    text = record.page_status_text(
        CFG, {"active": True, "reason": 'Line one\nline "two" é', "eta": "soon"}
    )
    assert "\n" not in text and text.isascii()
    assert json.loads(text) == {
        "active": True,
        "eta": "soon",
        "eta_at": "",
        "maintenance": True,
        "poll_s": 15,
        "reason": 'Line one\nline "two" é',
    }


def test_the_wait_ends_when_haproxy_holds_the_document():
    held = iter(['{"old":1}', '{"old":1}', '{"new":1}'])
    assert record.wait_status_held(lambda: next(held), '{"new":1}', poll_interval=0) is True


def test_the_wait_is_bounded_and_skipped_without_a_lua_task():
    assert record.wait_status_held(lambda: '{"old":1}', '{"new":1}', wait=0.05) is False
    assert record.wait_status_held(lambda: None, '{"new":1}') is None
