{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set page = cfg.page %}

{%- if page.archive %}

# An archive from pillar: extracted into the root, its maintenance.html served as index.html.
maintenance-page:
  archive.extracted:
    - name: {{ page.root }}
    - source: {{ page.archive.source }}
    - source_hash: {{ page.archive.source_hash }}
    - enforce_toplevel: False
    # A new archive (new hash) must replace the page, not be skipped as "already present".
    - source_hash_update: True
    - user: {{ page.user }}
    - group: {{ page.group }}

maintenance-page-index:
  file.managed:
    - name: {{ page.root }}/index.html
    - source: {{ page.root }}/maintenance.html
    - user: {{ page.user }}
    - group: {{ page.group }}
    - mode: "0644"
    - require:
      - archive: maintenance-page
{%- else %}

# No "clean": maintenance.json (written by haproxy_maint) lives in the same folder.
maintenance-page:
  file.recurse:
    - name: {{ page.root }}
    - source: {{ page.source }}
    - user: {{ page.user }}
    - group: {{ page.group }}
    - dir_mode: "0755"
    - file_mode: "0644"
    - makedirs: True
{%- endif %}

# The status document the page polls and JSON clients get (haproxy_maint rewrites it at every
# start and stop). Created when missing, so that the page and its JSON answer exist when every
# app server is down before any maintenance was started; never replaced by a highstate.
maintenance-page-status:
  file.managed:
    - name: {{ page.root }}/maintenance.json
    - contents: {{ {"maintenance": True, "active": False, "reason": "", "eta": "", "eta_at": "", "poll_s": cfg.visitor.poll_interval} | json | json }}
    - replace: False
    - user: {{ page.user }}
    - group: {{ page.group }}
    - mode: "0644"
    - require:
      - {{ "archive" if page.archive else "file" }}: maintenance-page
