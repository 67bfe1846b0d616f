"""
The maintenance page's files that HAProxy holds in memory (docs/pillar.md, "The page under
load"): every file under ``page:root`` that the visitor's rules answer with ``http-request
return ... file``, and the ``tune.bufsize`` that holds the largest.

HAProxy reads such a file when it starts and at every reload, and the whole answer (headers
and body) must fit in one buffer. The status document is not one of them: it changes at
every start and stop, and HAProxy's Lua task (``haproxy_maint/files/status.lua.jinja``)
keeps it. Other files are left to the sorry server, which stays the source:

- a file larger than ``visitor:max_file_bytes`` (the highstate refuses the page first,
  ``maintenance-page-size``);
- a path that haproxy.cfg cannot carry as one plain word (any character beyond ``A-Z a-z
  0-9 . _ ~ / -``), and hidden files (a name that starts with ``.``).
"""

import hashlib
import mimetypes
import os
import re

from saltext_haproxy_maint.record import PAGE_STATUS_FILE

# HAProxy's own buffer size, kept when every file fits in it.
DEFAULT_BUFSIZE = 16384
# Room in a buffer beyond the file: the status line and headers of the answer (HAProxy's
# content-length and content-type, Retry-After as an HTTP date, Cache-Control). Measured on
# HAProxy 2.6: a 31,900-byte file is answered whole with tune.bufsize 32768, 32,500 bytes
# are a 500.
BUFFER_ROOM = 4096
BUFSIZE_STEP = 4096
# What a path may hold to stand in haproxy.cfg as one word, and in a URL unencoded.
PATH_RE = re.compile(r"\A[A-Za-z0-9._~/-]+\Z")
# Python's own table, without the system's files (the same answer on every LB), and the web
# types it lacks.
MIME_TYPES = mimetypes.MimeTypes(filenames=())
EXTRA_TYPES = {
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".webp": "image/webp",
}
DEFAULT_TYPE = "application/octet-stream"


def content_type(name):
    """
    The ``Content-Type`` of a page file, by its extension: text types with ``charset=utf-8``
    (as the sorry server sends them), ``application/octet-stream`` when unknown.

    name
        The file's name or path.
    """
    extension = os.path.splitext(name)[1].lower()
    found = EXTRA_TYPES.get(extension) or MIME_TYPES.guess_type("x" + extension)[0]
    if not found:
        return DEFAULT_TYPE
    if found.startswith("text/") or found in ("application/javascript", "image/svg+xml"):
        return f"{found}; charset=utf-8"
    return found


def _digest(path):
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def bufsize_for(largest):
    """
    The ``tune.bufsize`` (bytes) whose buffer holds an answer of ``largest`` bytes of body:
    None when HAProxy's default (16384) does, else the next multiple of 4096 above the body
    and its headers.

    largest
        The largest file's size in bytes (0 for none).
    """
    needed = largest + BUFFER_ROOM
    if needed <= DEFAULT_BUFSIZE:
        return None
    return -(-needed // BUFSIZE_STEP) * BUFSIZE_STEP


def page_files(root, max_file_bytes):
    """
    The page's files that HAProxy holds in memory, and the buffer size they need.

    Returns ``{"files": [{"path": "css/maintenance.css", "file": absolute path,
    "content_type": str, "bytes": int, "sha256": hex}], "bufsize": bytes or None, "left":
    [{"path": str, "why": str}]}``, files sorted by path; ``left`` lists the files left to
    the sorry server, and why. A missing ``root`` gives no files (a first highstate may
    render haproxy.cfg before the page is there: the sorry server answers until the next).
    Raises nothing.

    root
        The page's folder (``page:root``).

    max_file_bytes
        The largest file held (``visitor:max_file_bytes``).
    """
    files, left = [], []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            full = os.path.join(folder, name)
            path = os.path.relpath(full, root).replace(os.sep, "/")
            if name.startswith(".") or path == PAGE_STATUS_FILE or not os.path.isfile(full):
                continue
            size = os.path.getsize(full)
            if not PATH_RE.match(path):
                left.append({"path": path, "why": "not a plain path for haproxy.cfg"})
            elif size > max_file_bytes:
                left.append({"path": path, "why": f"{size} bytes > max_file_bytes"})
            else:
                files.append(
                    {
                        "path": path,
                        "file": full,
                        "content_type": content_type(name),
                        "bytes": size,
                        "sha256": _digest(full),
                    }
                )
    files.sort(key=lambda item: item["path"])
    largest = max((item["bytes"] for item in files), default=0)
    return {"files": files, "bufsize": bufsize_for(largest), "left": left}
