#!py
# maint/cancel: same path as maint/start; cancels a pending window.
# Python, not YAML: the event goes over as data, never as text pasted into YAML (a JSON
# dump of hostile data can hold characters YAML refuses, and the event would vanish unanswered).


def run():
    return {
        "haproxy_maint_cancel": {
            "runner.haproxy_maint.handle_event": [{"args": [{"tag": tag}, {"data": data}]}]
        }
    }
