{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set haproxy = cfg.haproxy %}
include:
  - haproxy_maint.haproxy.install
  - haproxy_maint.tls

haproxy-dirs:
  file.directory:
    - names:
      - {{ haproxy.errors_dir }}
      - {{ salt["file.dirname"](haproxy.config_file) }}
      - {{ salt["file.dirname"](haproxy.server_state_file) }}
      {%- if haproxy.runtime.socket.startswith("/") %}
      - {{ salt["file.dirname"](haproxy.runtime.socket) }}
      {%- endif %}
    - makedirs: True

# Served when the sorry server is down too: a real page, not the empty reply
# of the reference's "errorfile 503 /dev/null".
haproxy-errorfile-503:
  file.managed:
    - name: {{ haproxy.errors_dir }}/503.http
    - source: salt://haproxy_maint/files/503.http
    - mode: "0644"
    - require:
      - file: haproxy-dirs

# check_cmd runs on the rendered temp file: a config haproxy rejects never
# replaces the running one.
haproxy-config:
  file.managed:
    - name: {{ haproxy.config_file }}
    - source: salt://haproxy_maint/files/haproxy.cfg.jinja
    - template: jinja
    - mode: "0640"
    - group: {{ haproxy.group }}
    - check_cmd: {{ haproxy.binary }} -c -q -f
    - require:
      - pkg: haproxy-package
      - file: haproxy-errorfile-503
      - sls: haproxy_maint.tls
