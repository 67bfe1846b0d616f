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
        # Not *:8080: that includes 127.0.0.1:8080, where the sorry server listens
        # (sorry_server:host and port): HAProxy and the sorry server cannot both listen.
        bind:
          http: "*:8000"
          https: "*:8443"
  # tls:pem, the certificate chain and private key as PEM text, comes from a pillar file that
  # only the prod LBs get (e.g. haproxy_maint/prod_tls.sls, GPG-encrypted with #!yaml|gpg),
  # never from salt://: every minion can read the fileserver. Until it is set, the LB gets a
  # self-signed certificate.
