{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set haproxy = cfg.haproxy %}
{%- set supervisor = cfg.supervisor %}
include:
  - haproxy_maint.haproxy.config
{%- if haproxy.service.manager == "supervisord" %}
  - haproxy_maint.sorry.install
{%- endif %}

# Runs before the reload below (state order): the running haproxy's admin
# states (MAINT/DRAIN) go to server-state-file, which the new process loads;
# rewritten against the config just written, so that no old address or port
# and no removed server comes back (docs/pillar.md, server addresses).
haproxy-save-server-state:
  module.run:
    - haproxy_runtime.save_servers_state:
      - path: {{ haproxy.server_state_file }}
      - socket: {{ haproxy.runtime.socket }}
      - config_file: {{ haproxy.config_file }}
    # Only while haproxy runs (a first converge has nothing to save; a stale socket file is no proof).
    - onlyif:
      {%- if haproxy.service.manager == "system" %}
      - fun: service.status
        name: {{ haproxy.service.name }}
      {%- else %}
      - fun: supervisord.status_bool
        name: {{ haproxy.service.program }}
        expected_state: RUNNING
        conf_file: {{ supervisor.conf_file }}
      {%- endif %}
    - onchanges:
      - file: haproxy-config
      - file: haproxy-errorfile-503
      - file: haproxy-bypass-secret
      - file: haproxy-maint-lua
      - sls: haproxy_maint.tls

{%- if haproxy.service.manager == "system" %}

haproxy-service:
  service.running:
    - name: {{ haproxy.service.name }}
    - enable: True
    - reload: True
    - watch:
      - file: haproxy-config
      - file: haproxy-errorfile-503
      - file: haproxy-bypass-secret
      - file: haproxy-maint-lua
      - sls: haproxy_maint.tls
{%- else %}

# Master-worker haproxy in the foreground, a supervisord program (no init system).
haproxy-program:
  file.managed:
    - name: {{ supervisor.programs_dir }}/{{ haproxy.service.program }}.conf
    - source: salt://haproxy_maint/files/haproxy-program.conf.jinja
    - template: jinja
    - makedirs: True
    - mode: "0644"

haproxy-service:
  supervisord.running:
    - name: {{ haproxy.service.program }}
    - conf_file: {{ supervisor.conf_file }}
    - require:
      - file: haproxy-config
      - sls: haproxy_maint.sorry.install
    - watch:
      - file: haproxy-program

# USR2 makes the master re-read the config and replace its workers: a reload.
haproxy-reload:
  module.run:
    - supervisord.custom:
      - command: signal USR2 {{ haproxy.service.program }}
      - conf_file: {{ supervisor.conf_file }}
    - onchanges:
      - file: haproxy-config
      - file: haproxy-errorfile-503
      - file: haproxy-bypass-secret
      - file: haproxy-maint-lua
      - sls: haproxy_maint.tls
    - require:
      - supervisord: haproxy-service
{%- endif %}
