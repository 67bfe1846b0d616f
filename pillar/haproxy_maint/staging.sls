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
  # tls:pem, the certificate chain and private key as PEM text, comes from a pillar file that
  # only the staging LBs get (e.g. haproxy_maint/staging_tls.sls, GPG-encrypted with #!yaml|gpg),
  # never from salt://: every minion can read the fileserver. Until it is set, the LB gets a
  # self-signed certificate.
