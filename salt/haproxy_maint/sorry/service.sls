{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
include:
  - haproxy_maint.page
  - haproxy_maint.sorry.config

sorry-server-service:
  supervisord.running:
    - name: {{ cfg.sorry_server.program }}
    - conf_file: {{ cfg.supervisor.conf_file }}
    - require:
      - npm: sorry-server-package
      - sls: haproxy_maint.page
      {%- if cfg.supervisor.manage_service %}
      - service: supervisor-service
      {%- endif %}
    - watch:
      - file: sorry-server-program
