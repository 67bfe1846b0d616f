# maint/start: hand the whole event to the runner, which validates it (sender, every field)
# and fans it out. The data goes over as data (| json), never pasted into YAML.
haproxy_maint_start:
  runner.haproxy_maint.handle_event:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
