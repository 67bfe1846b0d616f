{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set sorry = cfg.sorry_server %}
{%- set supervisor = cfg.supervisor %}

# Only where node or npm is missing: NodeSource's nodejs brings its own npm,
# which Debian's npm package conflicts with.
node-packages:
  pkg.installed:
    - pkgs: {{ cfg.node.packages | json }}
    - unless: command -v node && command -v npm

sorry-server-package:
  npm.installed:
    - name: {{ sorry.npm_package }}@{{ sorry.version }}
    - require:
      - pkg: node-packages

supervisor-package:
  pkg.installed:
    - name: {{ supervisor.package }}

{%- if supervisor.manage_service %}

supervisor-service:
  service.running:
    - name: {{ supervisor.service }}
    - enable: True
    - require:
      - pkg: supervisor-package
{%- endif %}
