"""The maintenance page SLS alone, masterless, into a temporary ``page:root``: the default
folder, a custom salt:// folder and an archive (its maintenance.html served as index.html)."""

import hashlib
import io
import pwd
import tarfile

import pytest

from harness.converge import REPO, changed_states, failed_states, salt_call
from harness.converge import write_minion_config as write_base_config

PAGE_SLS = "haproxy_maint.page"
DEFAULT_PAGE = REPO / "salt/haproxy_maint/files/page"
ARCHIVE_HTML = b"<!doctype html><title>Archived maintenance</title><h1>Back soon (v1)</h1>\n"
ARCHIVE_IMG = b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>\n'
NEWER_HTML = b"<!doctype html><title>Archived maintenance</title><h1>Back soon (v2)</h1>\n"
NO_SUCH_ARCHIVE_HASH = "sha256=" + hashlib.sha256(b"not the archive").hexdigest()


def write_minion_config(tmp_path):
    """The shared masterless config, with ``tmp_path/roots`` as a second file_roots entry."""
    extra_root = tmp_path / "roots"
    extra_root.mkdir()
    config_dir = write_base_config(tmp_path / "salt", "page-test")
    minion = config_dir / "minion"
    lines = [
        f"file_roots: {{base: [{REPO / 'salt'}, {extra_root}]}}"
        if line.startswith("file_roots:")
        else line
        for line in minion.read_text().splitlines()
    ]
    minion.write_text("\n".join(lines) + "\n")
    return config_dir, extra_root


def apply_page(config_dir, **page):
    """``state.sls haproxy_maint.page`` with ``page`` keys merged over the defaults."""
    return salt_call(config_dir, "state.sls", PAGE_SLS, pillar={"haproxy_maint": {"page": page}})


def build_archive(path, html):
    """A .tar.gz with maintenance.html and img/logo.svg; returns its ``sha256=<hex>``."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("maintenance.html", html), ("img/logo.svg", ARCHIVE_IMG)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return "sha256=" + hashlib.sha256(path.read_bytes()).hexdigest()


def owner(path):
    return pwd.getpwuid(path.stat().st_uid).pw_name


def test_default_folder_lands_in_root(tmp_path):
    config_dir, _ = write_minion_config(tmp_path)
    root = tmp_path / "www"
    code, result = apply_page(config_dir, root=str(root))
    assert code == 0, result
    named = ["index.html", "css/maintenance.css", "font/dejavu-sans.woff", "img/maintenance.svg"]
    every = [p.relative_to(DEFAULT_PAGE) for p in DEFAULT_PAGE.rglob("*") if p.is_file()]
    for relative in [*named, *every]:
        assert (root / relative).read_bytes() == (DEFAULT_PAGE / relative).read_bytes(), relative
    assert owner(root / "index.html") == "www-data"
    assert oct((root / "index.html").stat().st_mode & 0o777) == "0o644"


def test_custom_salt_folder_replaces_default(tmp_path):
    config_dir, extra_root = write_minion_config(tmp_path)
    custom = extra_root / "custom_page"
    (custom / "css").mkdir(parents=True)
    (custom / "index.html").write_text("<!doctype html><h1>Custom maintenance</h1>\n")
    (custom / "css/site.css").write_text("h1 { color: teal; }\n")
    root = tmp_path / "www"
    code, result = apply_page(config_dir, root=str(root), source="salt://custom_page")
    assert code == 0, result
    assert (root / "index.html").read_text() == "<!doctype html><h1>Custom maintenance</h1>\n"
    assert (root / "css/site.css").read_text() == "h1 { color: teal; }\n"
    assert not (root / "css/maintenance.css").exists()
    assert not (root / "img").exists()


@pytest.fixture(params=["salt", "file"])
def archive_site(request, tmp_path):
    """The archive built in the extra file_roots entry, given as salt:// or file://, applied once.

    Returns (apply(**archive) -> (code, result), root, archive path, source URL, first result).
    """
    config_dir, extra_root = write_minion_config(tmp_path)
    archive = extra_root / "page.tar.gz"
    source = "salt://page.tar.gz" if request.param == "salt" else f"file://{archive}"
    root = tmp_path / "www"

    def apply(source_hash):
        archive_pillar = {"source": source, "source_hash": source_hash}
        return apply_page(config_dir, root=str(root), archive=archive_pillar)

    first = apply(build_archive(archive, ARCHIVE_HTML))
    return apply, root, archive, request.param, first


def test_archive_maintenance_html_becomes_index(archive_site):
    _, root, _, _, (code, result) = archive_site
    assert code == 0, result
    assert (root / "index.html").read_bytes() == ARCHIVE_HTML
    assert (root / "maintenance.html").read_bytes() == ARCHIVE_HTML
    assert (root / "img/logo.svg").read_bytes() == ARCHIVE_IMG
    assert owner(root / "index.html") == "www-data"


def test_archive_second_apply_changes_nothing(archive_site):
    apply, root, archive, _, _ = archive_site
    code, result = apply("sha256=" + hashlib.sha256(archive.read_bytes()).hexdigest())
    assert code == 0, result
    assert changed_states(result) == []
    assert (root / "index.html").read_bytes() == ARCHIVE_HTML


def test_archive_wrong_hash_fails_and_keeps_index(archive_site):
    apply, root, archive, _, _ = archive_site
    before = (root / "index.html").read_bytes()
    build_archive(archive, NEWER_HTML)
    code, result = apply(NO_SUCH_ARCHIVE_HASH)
    assert code != 0, result
    assert "maintenance-page" in failed_states(result)
    assert (root / "index.html").read_bytes() == before == ARCHIVE_HTML
    assert (root / "maintenance.html").read_bytes() == ARCHIVE_HTML


def test_archive_new_hash_replaces_index(archive_site):
    apply, root, archive, _, _ = archive_site
    code, result = apply(build_archive(archive, NEWER_HTML))
    assert code == 0, result
    assert (root / "index.html").read_bytes() == NEWER_HTML
