"""The page's files that HAProxy holds in memory, and the buffer they need."""

import hashlib

import pytest

from saltext_haproxy_maint import page_files


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("css/maintenance.css", "text/css; charset=utf-8"),
        ("img/maintenance.svg", "image/svg+xml; charset=utf-8"),
        ("font/dejavu-sans.woff", "font/woff"),
        ("font/x.WOFF2", "font/woff2"),
        ("img/logo.png", "image/png"),
        ("app.js", "application/javascript; charset=utf-8"),
        ("LICENSE", "application/octet-stream"),
    ],
)
def test_content_type_by_extension(name, expected):
    assert page_files.content_type(name) == expected


@pytest.mark.parametrize(
    ("largest", "bufsize"),
    [(0, None), (12288, None), (12289, 20480), (27828, 32768), (61440, 65536), (61441, 69632)],
)
def test_bufsize_holds_the_largest_file_and_its_headers(largest, bufsize):
    assert page_files.bufsize_for(largest) == bufsize


def test_every_plain_file_is_held_the_rest_left_to_the_sorry_server(tmp_path):
    (tmp_path / "css").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "index.html").write_text("<h1>down</h1>")
    (tmp_path / "css/site.css").write_text("body {}")
    (tmp_path / "maintenance.json").write_text("{}")
    (tmp_path / ".htaccess").write_text("x")
    (tmp_path / ".git/config").write_text("x")
    (tmp_path / "with space.png").write_bytes(b"x")
    (tmp_path / "big.bin").write_bytes(b"x" * 101)
    held = page_files.page_files(str(tmp_path), 100)
    assert [item["path"] for item in held["files"]] == ["css/site.css", "index.html"]
    index = held["files"][1]
    assert index["file"] == str(tmp_path / "index.html") and index["bytes"] == 13
    assert index["sha256"] == hashlib.sha256(b"<h1>down</h1>").hexdigest()
    assert held["left"] == [
        {"path": "big.bin", "why": "101 bytes > max_file_bytes"},
        {"path": "with space.png", "why": "not a plain path for haproxy.cfg"},
    ]
    assert held["bufsize"] is None


def test_a_missing_page_root_holds_nothing(tmp_path):
    assert page_files.page_files(str(tmp_path / "www"), 65536) == {
        "files": [],
        "bufsize": None,
        "left": [],
    }
