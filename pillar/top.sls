# One environment file per LB; each includes haproxy_maint.base.
# Name LBs lb-<env>-<n> (or adapt the globs); make converge runs as converge-dev.
base:
  'lb-prod-*':
    - haproxy_maint.prod
  'lb-staging-*':
    - haproxy_maint.staging
  'lb-dev-* or converge-dev':
    - match: compound
    - haproxy_maint.dev
