# A minion (re)started: if it is an LB, the runner brings it to its environment's desired
# maintenance state, so an LB that was down when the event came catches up.
haproxy_maint_catch_up:
  runner.haproxy_maint.handle_event:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
