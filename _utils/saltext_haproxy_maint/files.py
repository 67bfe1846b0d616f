"""
Files that the master and the LBs keep: atomic JSON writes, a lock, a reader that says
clearly what is wrong with a file instead of crashing the caller.

One home for every file rule of the project (``haproxy_maint`` on the LB, the runner on the
master): the LB's maintenance record, the page's status document, the server state file, the
master's nonce store.
"""

import contextlib
import fcntl
import json
import os
import tempfile

from salt.exceptions import CommandExecutionError


def write_text(path, text, mode=0o644, durable=True, dir_mode=0o755):
    """
    Write ``text`` to ``path`` atomically: a temporary file beside it, renamed over it, so a
    reader sees the old file or the new one, never half of one.

    path
        Absolute path of the file.

    text
        The whole content.

    mode
        Permissions of the file (set before the rename, so it is never more open).

    durable
        fsync before the rename (False for files rewritten often that need not survive a
        power cut).

    dir_mode
        Permissions of the directory when it has to be made.
    """
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=dir_mode, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    except OSError as err:
        raise CommandExecutionError(f"cannot write {path}: {err}") from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise CommandExecutionError(f"cannot write {path}: {err}") from err
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path, data, mode=0o644, durable=True, dir_mode=0o755):
    """
    Write ``data`` as JSON to ``path`` atomically (see :py:func:`write_text`).

    path
        Absolute path of the file.

    data
        Anything JSON can hold.

    mode, durable, dir_mode
        As for :py:func:`write_text`.
    """
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    write_text(path, text, mode=mode, durable=durable, dir_mode=dir_mode)


def read_json(path, default=None):
    """
    Read a JSON object from ``path``; ``default`` when the file does not exist.

    A file that cannot be read or is not a JSON object raises ``CommandExecutionError``
    naming the file, so the caller reports it rather than acting on half a state.

    path
        Absolute path of the file.

    default
        What a missing file means.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as err:
        raise CommandExecutionError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise CommandExecutionError(f"{path} does not hold a JSON object")
    return data


@contextlib.contextmanager
def locked(path, dir_mode=0o755):
    """
    Hold an exclusive ``flock`` on ``path`` (made when missing) for the ``with`` block:
    one holder at a time across threads and processes of this host.

    path
        The lock file.

    dir_mode
        Permissions of its directory when it has to be made.
    """
    try:
        os.makedirs(os.path.dirname(path), mode=dir_mode, exist_ok=True)
        handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as err:
        raise CommandExecutionError(f"cannot open lock {path}: {err}") from err
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
