{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set haproxy = cfg.haproxy %}
include:
  - haproxy_maint.haproxy.install
  - haproxy_maint.tls
  - haproxy_maint.visitor
  - haproxy_maint.page

haproxy-dirs:
  file.directory:
    - names:
      - {{ salt["file.dirname"](haproxy.config_file) }}
      - {{ salt["file.dirname"](haproxy.server_state_file) }}
      {%- if haproxy.runtime.socket.startswith("/") %}
      - {{ salt["file.dirname"](haproxy.runtime.socket) }}
      {%- endif %}
    - makedirs: True

# check_cmd runs on the rendered temp file: a config haproxy rejects never
# replaces the running one. Not quiet (-q): on failure Salt puts HAProxy's own
# [ALERT] lines into the state's comment after "check_cmd execution failed".
haproxy-config:
  file.managed:
    - name: {{ haproxy.config_file }}
    - source: salt://haproxy_maint/files/haproxy.cfg.jinja
    - template: jinja
    - mode: "0640"
    - group: {{ haproxy.group }}
    - check_cmd: {{ haproxy.binary }} -c -f
    - require:
      - pkg: haproxy-package
      - file: haproxy-dirs
      - sls: haproxy_maint.visitor
      - sls: haproxy_maint.tls
      # The page's files are read at render: HAProxy answers them from memory.
      - sls: haproxy_maint.page
