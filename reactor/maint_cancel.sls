# maint/cancel: same path as maint/start; the runner proves the sender, validates, cancels a
# pending window of the environment.
haproxy_maint_cancel:
  runner.haproxy_maint.handle_event:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
