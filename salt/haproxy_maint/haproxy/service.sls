{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set haproxy = cfg.haproxy %}
{%- set socket = haproxy.runtime.socket %}
{%- set supervisor = cfg.supervisor %}
include:
  - haproxy_maint.haproxy.config
{%- if haproxy.service.manager == "supervisord" %}
  - haproxy_maint.sorry.install
{%- endif %}

# Runs before the reload below (state order): the running haproxy's admin
# states (MAINT/DRAIN) go to server-state-file, which the new process loads.
# Only when haproxy is up: on a first converge there is nothing to save.
haproxy-save-server-state:
  module.run:
    - haproxy_runtime.save_servers_state:
      - path: {{ haproxy.server_state_file }}
      - socket: {{ socket }}
    {%- if socket.startswith("/") %}
    - onlyif: test -S {{ socket }}
    {%- else %}
    {%- set host, port = salt["haproxy_pillar.split_hostport"]("haproxy_maint:haproxy:runtime:socket", socket) %}
    - onlyif: "bash -c ': </dev/tcp/{{ host.strip("[]") }}/{{ port }}'"
    {%- endif %}
    - onchanges:
      - file: haproxy-config
      - file: haproxy-errorfile-503
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
      - sls: haproxy_maint.tls
    - require:
      - supervisord: haproxy-service
{%- endif %}
