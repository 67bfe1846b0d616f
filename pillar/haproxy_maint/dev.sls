include:
  - haproxy_maint.base

# dev: this machine (make converge). Loopback only, a self-signed certificate.
haproxy_maint:
  env: dev
  haproxy:
    # DEV ONLY: a dead app server is marked down after one failed check 1 s apart
    # (the reference waits two checks 10 s apart), so tests need not wait long.
    default_server:
      inter: 1s
      downinter: 1s
      rise: 1
      fall: 1
    # One frontend on loopback; a site's routes and backends merge over it (docs/pillar.md,
    # "A site: frontends and routes").
    frontends:
      www:
        bind:
          http: 127.0.0.1:80
          https: 127.0.0.1:443
        default_backend: app
    backends:
      app:
        servers:
          app1: 127.0.0.1:8001
          app2: 127.0.0.1:8002
  visitor:
    # DEV ONLY: an open maintenance page asks every 5 s (jittered) whether maintenance is
    # over, so a tab comes back quickly when you try it (the default: 15 s).
    poll_interval: 5
