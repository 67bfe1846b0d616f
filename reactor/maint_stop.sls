# maint/stop: same path as maint/start; the runner validates and fans out.
haproxy_maint_stop:
  runner.haproxy_maint.handle_event:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
