# An LB: HAProxy with SSL termination and the sorry server as backup, the
# maintenance page, then the maintenance state (last: it acts on the running services).
# With haproxy:manage_config false another tool owns haproxy.cfg, the package and the
# service: only the visitor's files, the page and the sorry server are ours.
{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
include:
{%- if cfg.haproxy.manage_config %}
  - haproxy_maint.haproxy.install
  - haproxy_maint.tls
  - haproxy_maint.haproxy.config
  - haproxy_maint.haproxy.service
{%- else %}
  - haproxy_maint.visitor
{%- endif %}
  - haproxy_maint.page
  - haproxy_maint.sorry.install
  - haproxy_maint.sorry.config
  - haproxy_maint.sorry.service
  - haproxy_maint.maintenance
