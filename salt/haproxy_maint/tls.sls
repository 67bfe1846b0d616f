{%- from "haproxy_maint/map.jinja" import haproxy_maint as cfg %}
{%- set tls = cfg.tls %}
include:
  - haproxy_maint.haproxy.install

haproxy-tls-dir:
  file.directory:
    - name: {{ salt["file.dirname"](tls.cert_file) }}
    - mode: "0750"
    - makedirs: True

{%- if tls.pem or tls.pem_source %}

haproxy-tls-pem:
  file.managed:
    - name: {{ tls.cert_file }}
    {%- if tls.pem %}
    - contents: {{ tls.pem | json }}
    {%- else %}
    - source: {{ tls.pem_source }}
    {%- endif %}
    - mode: "0600"
    - show_changes: False
    - require:
      - file: haproxy-tls-dir
{%- else %}

# No certificate in pillar (dev): a self-signed one. The key goes beside the
# certificate as <cert_file>.key, which haproxy loads when the PEM has no key
# (ssl-load-extra-files, on by default), so no concatenation step is needed.
haproxy-tls-key:
  x509.private_key_managed:
    - name: {{ tls.cert_file }}.key
    - algo: rsa
    - keysize: {{ tls.self_signed.key_size }}
    - mode: "0600"
    - require:
      - file: haproxy-tls-dir

haproxy-tls-pem:
  x509.certificate_managed:
    - name: {{ tls.cert_file }}
    - signing_private_key: {{ tls.cert_file }}.key
    - CN: {{ tls.self_signed.common_name }}
    - subjectAltName: "DNS:{{ tls.self_signed.common_name }}"
    - basicConstraints: "critical, CA:false"
    - keyUsage: "critical, digitalSignature, keyEncipherment"
    - extendedKeyUsage: serverAuth
    - days_valid: {{ tls.self_signed.days_valid }}
    - days_remaining: {{ tls.self_signed.days_remaining }}
    - mode: "0600"
    - require:
      - x509: haproxy-tls-key
{%- endif %}
{#- More certificates for the https binds (tls:certificates), chosen by SNI: beside cert_file. #}
{%- for name, certificate in tls.certificates | dictsort %}

haproxy-tls-certificate-{{ name }}:
  file.managed:
    - name: {{ salt["file.dirname"](tls.cert_file) }}/{{ name }}.pem
    {%- if "pem" in certificate %}
    - contents: {{ certificate.pem | json }}
    {%- else %}
    - source: {{ certificate.pem_source }}
    {%- endif %}
    - mode: "0600"
    - show_changes: False
    - require:
      - file: haproxy-tls-dir
{%- endfor %}
