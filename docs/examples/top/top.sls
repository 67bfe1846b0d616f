# LBs are the minions whose pillar names an haproxy_maint environment.
base:
  'haproxy_maint:env:?*':
    - match: pillar
    - haproxy_maint
