#!py
# maint/start: hand the whole event to the runner (it proves the sender, checks, fans out).
# Python, not YAML: the event goes over as data, never as text pasted into YAML (a JSON
# dump of hostile data can hold characters YAML refuses, and the event would vanish unanswered).


def run():
    return {
        "haproxy_maint_start": {
            "runner.haproxy_maint.handle_event": [{"args": [{"tag": tag}, {"data": data}]}]
        }
    }
