# Runs last: re-applies the LB's recorded maintenance (if any) to the running HAProxy, so a
# highstate during maintenance leaves it on, and one without it leaves it off. With
# haproxy:manage_config false it runs after the sorry server, on the HAProxy another tool runs.
{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set after = "haproxy_maint.haproxy.service" if cfg.haproxy.manage_config else "haproxy_maint.sorry.service" %}
include:
  - {{ after }}

haproxy-maint-converged:
  haproxy_maint.converged:
    - require:
      - sls: {{ after }}
