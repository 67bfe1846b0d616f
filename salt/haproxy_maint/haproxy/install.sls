{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}

haproxy-package:
  pkg.installed:
    - name: {{ cfg.haproxy.package }}
