# Runs last: re-applies the LB's recorded maintenance (if any) to the running HAProxy, so a
# highstate during maintenance leaves it on, and one without it leaves it off.
include:
  - haproxy_maint.haproxy.service

haproxy-maint-converged:
  haproxy_maint.converged:
    - require:
      - sls: haproxy_maint.haproxy.service
