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

# HAProxy answers the page from memory (haproxy.cfg.jinja): one buffer holds each file, and
# the buffer grows with the largest, up to visitor:max_file_bytes. A larger file is refused
# here, before haproxy.cfg is rendered. No Salt state measures the files of a folder: find
# does (only when one is too large).
maintenance-page-size:
  test.configurable_test_state:
    - name: {{ page.root }}
    - changes: False
    - result: False
    - comment: >-
        a file of the maintenance page in {{ page.root }} is larger than
        {{ cfg.visitor.max_file_bytes }} bytes, the largest file HAProxy holds in memory
        (its buffer, tune.bufsize, grows to hold it, two per connection): raise pillar key
        haproxy_maint:visitor:max_file_bytes or make the page smaller;
        find {{ page.root }} -type f -size +{{ cfg.visitor.max_file_bytes }}c lists them
    - onlyif: find {{ page.root }} -type f -size +{{ cfg.visitor.max_file_bytes }}c | grep -q .
    - require:
      - {{ "file: maintenance-page-index" if page.archive else "file: maintenance-page" }}
