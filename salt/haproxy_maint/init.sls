# An LB: HAProxy with SSL termination and the sorry server as backup, the
# maintenance page, then the maintenance state (last: it acts on the running services).
include:
  - haproxy_maint.haproxy.install
  - haproxy_maint.tls
  - haproxy_maint.haproxy.config
  - haproxy_maint.haproxy.service
  - haproxy_maint.page
  - haproxy_maint.sorry.install
  - haproxy_maint.sorry.config
  - haproxy_maint.sorry.service
  - haproxy_maint.maintenance
