# Shared by every environment: only what differs from
# salt/haproxy_maint/defaults.yaml (docs/pillar.md lists every key).
haproxy_maint:
  haproxy:
    runtime:
      # The runtime socket is root's; haproxy_runtime runs as root in the minion.
      mode: "600"
