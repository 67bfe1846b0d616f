{#- The files the visitor's side of haproxy.cfg loads (docs/pillar.md "The visitor's side"):
    the 503 page, the maintenance map, the bypass ACL and secret, the page's status document
    and the Lua task that keeps it in HAProxy's memory. Applied whether the product
    renders haproxy.cfg or another tool does (haproxy:manage_config: false). -#}
{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set haproxy = cfg.haproxy %}
{%- set visitor = cfg.visitor %}

haproxy-visitor-dirs:
  file.directory:
    - names:
      - {{ haproxy.errors_dir }}
      {#- The visitor's files (one folder by default): each folder once. #}
      {%- set visitor_dirs = [] %}
      {%- for path in [visitor.map_file, visitor.paths_map_file, visitor.bypass_file, visitor.bypass.secret_file, visitor.status_file, visitor.status_map_file, visitor.lua_file] %}
      {%- do visitor_dirs.append(salt["file.dirname"](path)) %}
      {%- endfor %}
      {%- for path in visitor_dirs | unique %}
      - {{ path }}
      {%- endfor %}
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
      - file: haproxy-visitor-dirs

# Files HAProxy loads at start. haproxy_maint writes the map and the bypass ACL at every
# start/stop (and sets the same through the runtime API); a highstate only creates them when
# missing, so it never undoes a maintenance.
haproxy-visitor-files:
  file.managed:
    - names:
      - {{ visitor.map_file }}
      - {{ visitor.paths_map_file }}
      - {{ visitor.bypass_file }}
      - {{ visitor.status_map_file }}
    - replace: False
    - mode: "0644"
    - require:
      - file: haproxy-visitor-dirs

# The bypass secret, one line; never shown in the state's changes.
haproxy-bypass-secret:
  file.managed:
    - name: {{ visitor.bypass.secret_file }}
    - contents: {{ (visitor.bypass.secret ~ "\n" if visitor.bypass.secret else "") | json }}
    - mode: "0600"
    - show_changes: False
    - require:
      - file: haproxy-visitor-dirs

# The status document as HAProxy's Lua task reads it (haproxy_maint rewrites it at every
# start and stop, as page:root's maintenance.json): created when missing, never replaced by
# a highstate.
haproxy-visitor-status:
  file.managed:
    - name: {{ visitor.status_file }}
    - contents: {{ {"active": False, "eta": "", "eta_at": "", "maintenance": True, "poll_s": visitor.poll_interval, "reason": ""} | json | json }}
    - replace: False
    - mode: "0644"
    - require:
      - file: haproxy-visitor-dirs

# HAProxy's Lua task: the status document into the status map, every 50 ms.
haproxy-maint-lua:
  file.managed:
    - name: {{ visitor.lua_file }}
    - source: salt://haproxy_maint/files/status.lua.jinja
    - template: jinja
    - mode: "0644"
    - require:
      - file: haproxy-visitor-dirs
