include:
  - haproxy_maint.base

# Example staging values: one app, the reference health checks.
haproxy_maint:
  env: staging
  haproxy:
    backends:
      shop:
        servers:
          web1: 10.1.10.11:8080
          web2: 10.1.10.12:8080
  tls:
    pem_source: salt://haproxy_maint/files/tls/staging.pem
