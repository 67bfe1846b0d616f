{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set haproxy = cfg.haproxy %}
{%- set visitor = cfg.visitor %}
include:
  - haproxy_maint.haproxy.install
  - haproxy_maint.tls

haproxy-dirs:
  file.directory:
    - names:
      - {{ haproxy.errors_dir }}
      - {{ salt["file.dirname"](haproxy.config_file) }}
      - {{ salt["file.dirname"](haproxy.server_state_file) }}
      {#- The visitor's files (one folder by default): each folder once. #}
      {%- set visitor_dirs = [] %}
      {%- for path in [visitor.map_file, visitor.bypass_file, visitor.bypass.secret_file] %}
      {%- do visitor_dirs.append(salt["file.dirname"](path)) %}
      {%- endfor %}
      {%- for path in visitor_dirs | unique %}
      - {{ path }}
      {%- endfor %}
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
    - template: jinja
    - mode: "0644"
    - require:
      - file: haproxy-dirs

# The visitor's side (docs/pillar.md): files HAProxy loads at start. haproxy_maint writes the
# map and the bypass ACL at every start/stop (and sets the same through the runtime API); a
# highstate only creates them when missing, so it never undoes a maintenance.
haproxy-visitor-files:
  file.managed:
    - names:
      - {{ visitor.map_file }}
      - {{ visitor.bypass_file }}
    - replace: False
    - mode: "0644"
    - require:
      - file: haproxy-dirs

# The bypass secret, one line; never shown in the state's changes.
haproxy-bypass-secret:
  file.managed:
    - name: {{ visitor.bypass.secret_file }}
    - contents: {{ (visitor.bypass.secret ~ "\n" if visitor.bypass.secret else "") | json }}
    - mode: "0600"
    - show_changes: False
    - require:
      - file: haproxy-dirs

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
      - file: haproxy-errorfile-503
      - file: haproxy-visitor-files
      - file: haproxy-bypass-secret
      - sls: haproxy_maint.tls
