{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set sorry = cfg.sorry_server %}
include:
  - haproxy_maint.sorry.install

sorry-server-log-dir:
  file.directory:
    - name: {{ salt["file.dirname"](sorry.log_file) }}
    - makedirs: True

sorry-server-program:
  file.managed:
    - name: {{ cfg.supervisor.programs_dir }}/{{ sorry.program }}.conf
    - source: salt://haproxy_maint/files/sorry-server-program.conf.jinja
    - template: jinja
    - makedirs: True
    - mode: "0644"
    - require:
      - pkg: supervisor-package
