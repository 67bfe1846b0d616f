#!py
# A minion (re)started: if it is an LB, the runner brings it to its env's desired state.
# Python, not YAML: the event goes over as data, never as text pasted into YAML (a JSON
# dump of hostile data can hold characters YAML refuses, and the event would vanish unanswered).


def run():
    return {
        "haproxy_minion_start": {
            "runner.haproxy_maint.handle_event": [{"args": [{"tag": tag}, {"data": data}]}]
        }
    }
