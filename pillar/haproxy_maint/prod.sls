include:
  - haproxy_maint.base

# Example production values: replace the addresses and the certificate with yours.
haproxy_maint:
  env: prod
  haproxy:
    maxconn: 20000
    backends:
      shop:
        servers:
          web1: 10.0.10.11:8080
          web2: 10.0.10.12:8080
          web3: 10.0.10.13:8080
        bind:
          http: "*:80"
          https: "*:443"
      api:
        servers:
          api1: 10.0.20.11:9000
          api2: 10.0.20.12:9000
        bind:
          http: "*:8080"
          https: "*:8443"
  tls:
    # The certificate chain and key, from the Salt fileserver (keep it out of git).
    pem_source: salt://haproxy_maint/files/tls/prod.pem
