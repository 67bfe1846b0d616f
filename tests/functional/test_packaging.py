"""pip-installing the project gives Salt the same modules as file_roots: the entry point."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.load import REPO

PIP = (sys.executable, "-m", "pip")
MODULE_FILES = {
    "modules": {"haproxy_runtime.py", "haproxy_maint.py", "haproxy_pillar.py"},
    "states": {"haproxy_server.py", "haproxy_maint.py"},
    "runners": {"haproxy_maint.py"},
}


def test_wheel_carries_the_loader_dirs_and_entry_point(tmp_path):
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        text = archive.read(entry_points).decode()
    assert "[salt.loader]" in text
    assert "saltext_haproxy_maint:get_loader_dirs" in text
    for kind, files in MODULE_FILES.items():
        for name in files:
            assert f"saltext_haproxy_maint/{kind}/{name}" in names


def test_installed_package_points_salt_at_its_modules(tmp_path):
    subprocess.run(
        [
            *PIP,
            "install",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--target",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        cwd=tmp_path,
    )
    code = "import json, saltext_haproxy_maint as p; print(json.dumps(p.get_loader_dirs()))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    dirs = json.loads(out)
    for kind, files in MODULE_FILES.items():
        (directory,) = dirs[kind]
        assert Path(directory).is_relative_to(tmp_path)
        assert files <= {p.name for p in Path(directory).iterdir()}
