include:
  - haproxy_maint.base

# Example production values: replace the host names, addresses and certificates with yours.
# One frontend serves both host names on :80 and :443 and routes to three backends.
haproxy_maint:
  env: prod
  haproxy:
    maxconn: 20000
    frontends:
      www:
        bind:
          http: "*:80"
          https: "*:443"
        # Plain HTTP gets a permanent redirect to the same URL over https.
        redirect_https: 301
        # In order; the first route that matches wins.
        routes:
          - {backend: api, host: api.example.com}
          - {backend: static, host: www.example.com, path_beg: /static/}
        default_backend: shop
    backends:
      # These three have no bind of their own: frontend www routes to them.
      shop:
        servers:
          web1: 10.0.10.11:8080
          web2: 10.0.10.12:8080
          web3: 10.0.10.13:8080
        # The app's own health page, asked for with the site's Host header.
        check: {path: /health, host: www.example.com}
        # A visitor keeps their app server (the session lives there); the maintenance page
        # never sets or follows this cookie.
        persistence: {cookie: SHOPSRV}
        timeouts: {server: 120s}
      api:
        servers:
          api1: 10.0.20.11:9000
          api2: 10.0.20.12:9000
        check: {path: /healthz}
        balance: leastconn
      static:
        servers:
          static1: 10.0.30.11:8080
  # tls:pem (the certificate of www.example.com, the default) and tls:certificates:api (the
  # one presented when a client asks for api.example.com), each the certificate chain and
  # private key as PEM text, come from a pillar file that only the prod LBs get (e.g.
  # haproxy_maint/prod_tls.sls, GPG-encrypted with #!yaml|gpg), never from salt://: every
  # minion can read the fileserver. Until tls:pem is set, the LB gets a self-signed
  # certificate.
