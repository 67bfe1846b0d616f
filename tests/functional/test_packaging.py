"""The pip route stands alone: the wheel, built from the sdist, carries the shared package,
every loader directory, the state tree, the reactor SLS, the examples and the licences;
installed with nothing else and no utils_dirs, it gives a masterless minion the modules (which
import the shared package as installed) and the formula, and a master the runner."""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from harness import REPO
from harness.converge import SALT_CALL, SALT_TIMEOUT, parse_local
from saltext_haproxy_maint import LOADER_KINDS, OPERATOR_DIRS

PIP = (sys.executable, "-m", "pip")
PACKAGE = "saltext_haproxy_maint"
# Repository directory -> where its files land in the wheel (pyproject's package-dir).
LOADER_SOURCES = {kind: f"_{kind}" for kind in LOADER_KINDS}
# The shared package itself: its modules land at the package's root.
SHARED_SOURCE = "_utils/saltext_haproxy_maint"
DATA_SOURCES = {
    "salt/haproxy_maint": "formula/haproxy_maint",
    "reactor": "reactor",
    "docs/examples/master.d-haproxy_maint.conf": "examples/master.d-haproxy_maint.conf",
    "docs/examples/top": "examples/top",
    "pillar": "examples/pillar",
}
# Named so that an empty or renamed source directory cannot make the tests pass vacuously.
REQUIRED_FILES = {
    "modules/haproxy_maint.py",
    "modules/haproxy_pillar.py",
    "modules/haproxy_runtime.py",
    "states/haproxy_server.py",
    "runners/haproxy_maint.py",
    "lbconfig.py",
    "request.py",
    "runtime.py",
    "handling.py",
    "output/haproxy_maint.py",
    "formula/haproxy_maint/defaults.yaml",
    "formula/haproxy_maint/map.jinja",
    "formula/haproxy_maint/init.sls",
    "formula/haproxy_maint/files/page/index.html",
    "reactor/maint_start.sls",
    "reactor/maint_stop.sls",
    "examples/master.d-haproxy_maint.conf",
    "examples/top/top.sls",
    "examples/pillar/haproxy_maint/base.sls",
}
# Not part of a clean checkout; a stale build/ would even leak deleted files into the wheel.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "_build", "__pycache__",
    ".pytest_cache", ".ruff_cache", "artifacts",
)  # fmt: skip
# A Python warning in build output (SetuptoolsDeprecationWarning, setuptools' _Warning...);
# distutils' lowercase "warning: byte-compiling is disabled" notes are not ones.
PYTHON_WARNING = re.compile(r"\w*Warning\b")
# Where the example master config expects a checkout's reactor SLS (route A).
ROUTE_A_REACTOR_DIR = "/srv/haproxy-maint/reactor"
# An LB pillar: one backend that fails over to the sorry server, one that does not.
LB_PILLAR = {
    "haproxy_maint": {
        "env": "pip",
        "haproxy": {
            "backends": {
                "app": {"servers": {"app1": "127.0.0.1:8001"}},
                "static": {
                    "sorry": False,
                    "bind": {"http": "127.0.0.1:8081", "https": "127.0.0.1:8444"},
                    "servers": {"s1": "127.0.0.1:8002"},
                },
            }
        },
    }
}


@pytest.fixture(autouse=True)
def reset_loaders_state():
    """These tests run Salt in subprocesses: no salt-factories loaders (and none of their
    listeners) for them to reset."""


def expected_files():
    """Every file the wheel must carry under the package, from the repository's own dirs."""
    sources = {**LOADER_SOURCES, **{dest: src for src, dest in DATA_SOURCES.items()}}
    expected = {path.name for path in (REPO / SHARED_SOURCE).glob("*.py")}
    for dest, src in sources.items():
        source = REPO / src
        if source.is_file():
            expected.add(dest)
            continue
        pattern = "*.py" if dest in LOADER_SOURCES else "**/*"
        expected |= {
            f"{dest}/{path.relative_to(source).as_posix()}"
            for path in source.glob(pattern)
            if path.is_file() and "__pycache__" not in path.parts
        }
    return expected


def run(command, **kwargs):
    """Run ``command``; its combined output, or a failure that shows it."""
    proc = subprocess.run(command, capture_output=True, text=True, **kwargs)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{command} failed:\n{output}"
    return output


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sdist built from a clean copy of the checkout, then the wheel built from that sdist
    (so the sdist is proven to hold what the wheel needs); the build logs."""
    tmp = tmp_path_factory.mktemp("build")
    source = tmp / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    dist = tmp / "dist"
    code = f"import setuptools.build_meta as b; print(b.build_sdist({str(dist)!r}))"
    sdist_log = run([sys.executable, "-c", code], cwd=source)
    (sdist,) = dist.glob("*.tar.gz")
    wheel_log = run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-v", "-w", str(dist), str(sdist)],
        cwd=tmp,
    )
    (wheel,) = dist.glob("*.whl")
    return {"wheel": wheel, "log": sdist_log + wheel_log}


@pytest.fixture(scope="module")
def wheel_names(built):
    with zipfile.ZipFile(built["wheel"]) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def wheel_text(built):
    def read(suffix):
        with zipfile.ZipFile(built["wheel"]) as archive:
            (name,) = (n for n in archive.namelist() if n.endswith(suffix))
            return archive.read(name).decode()

    return read


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory):
    """The wheel installed with ``pip install --target``: the only copy of the package a
    subprocess with ``PYTHONPATH`` set to it can import."""
    target = tmp_path_factory.mktemp("target")
    run([*PIP, "install", "--no-deps", "-q", "--target", str(target), str(built["wheel"])])
    return target


def in_target(target, *command, **kwargs):
    """Run ``command`` with only ``target`` added to Python's path (cwd outside the repo)."""
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run(
        command, env=env, cwd=target, capture_output=True, text=True, timeout=SALT_TIMEOUT, **kwargs
    )


def paths(target, *args):
    proc = in_target(target, sys.executable, "-m", PACKAGE, "paths", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_wheel_carries_every_loader_dir_the_formula_reactor_and_examples(wheel_names):
    expected = expected_files()
    assert expected >= REQUIRED_FILES
    missing = {name for name in expected if f"{PACKAGE}/{name}" not in wheel_names}
    assert not missing


def test_wheel_registers_the_loader_entry_point(wheel_text):
    text = wheel_text(".dist-info/entry_points.txt")
    assert "[salt.loader]" in text
    assert f"{PACKAGE}:get_loader_dirs" in text


def test_wheel_carries_the_licences(wheel_text):
    apache = wheel_text(".dist-info/licenses/LICENSE")
    assert apache.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in apache  # the full text, not a notice
    fonts = wheel_text(".dist-info/licenses/salt/haproxy_maint/files/page/font/LICENSE.txt")
    assert "License: bitstream-vera" in fonts
    metadata = wheel_text(".dist-info/METADATA")
    assert "License-Expression: Apache-2.0 AND Bitstream-Vera" in metadata.splitlines()


def test_build_emits_no_python_warnings(built):
    assert not PYTHON_WARNING.findall(built["log"]), built["log"]


def test_declared_salt_is_the_salt_ci_tests(wheel_text):
    """requirements.txt pins the Salt CI runs; the wheel declares that release line, no other."""
    requirements = [
        Requirement(line.removeprefix("Requires-Dist: "))
        for line in wheel_text(".dist-info/METADATA").splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    (salt,) = (req for req in requirements if req.name == "salt" and req.marker is None)
    pins = (REPO / "requirements.txt").read_text().splitlines()
    (pinned,) = (Version(line.split("==")[1]) for line in pins if line.startswith("salt=="))
    assert salt.specifier.contains(pinned)
    assert not salt.specifier.contains(Version(f"{pinned.major + 1}"))
    assert not salt.specifier.contains(Version(f"{pinned.major - 1}.99"))


def test_installed_package_points_salt_at_every_loader_dir(installed):
    code = f"import json, {PACKAGE} as p; print(json.dumps(p.get_loader_dirs()))"
    proc = in_target(installed, sys.executable, "-c", code)
    assert proc.returncode == 0, proc.stderr
    dirs = json.loads(proc.stdout)
    # The key names are the ext_type names Salt's loader asks for ("output", not "outputter").
    assert set(dirs) == set(LOADER_KINDS)
    for kind, source in LOADER_SOURCES.items():
        (directory,) = dirs[kind]
        assert Path(directory).is_relative_to(installed)
        shipped = {p.name for p in Path(directory).iterdir()}
        assert {p.name for p in (REPO / source).glob("*.py")} <= shipped


def test_paths_prints_the_installed_directories(installed):
    lines = paths(installed).splitlines()
    printed = dict(line.split(": ", 1) for line in lines)
    assert list(printed) == list(OPERATOR_DIRS)
    for directory in printed.values():
        assert Path(directory).is_dir()
        assert Path(directory).is_relative_to(installed)
    assert (Path(printed["formula"]) / "haproxy_maint/init.sls").is_file()
    assert (Path(printed["reactor"]) / "maint_start.sls").is_file()
    assert (Path(printed["examples"]) / "master.d-haproxy_maint.conf").is_file()
    assert paths(installed, "reactor").strip() == printed["reactor"]


def test_example_master_config_pointed_at_the_printed_reactor_dir_names_existing_files(
    installed,
):
    """docs/install.md, route B: the example master config with its checkout's reactor
    directory replaced by the printed one (the sed command there) names files that exist."""
    examples = Path(paths(installed, "examples").strip())
    text = (examples / "master.d-haproxy_maint.conf").read_text()
    assert ROUTE_A_REACTOR_DIR in text
    text = text.replace(ROUTE_A_REACTOR_DIR, paths(installed, "reactor").strip())
    reactions = [sls for entry in yaml.safe_load(text)["reactor"] for sls in entry.popitem()[1]]
    assert reactions
    assert all(Path(sls).is_file() for sls in reactions), reactions


def test_paths_without_an_installation_says_so():
    env = {**os.environ, "PYTHONPATH": str(REPO / "_utils")}  # the checkout's own copy
    proc = subprocess.run(
        [sys.executable, "-m", PACKAGE, "paths"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "pip install" in proc.stderr


# What salt-master does when it loads runners, in a process that has only the package.
MASTER_RUNNER_FILE = """
import inspect, sys
import salt.config, salt.loader
opts = salt.config.master_config(None)
opts.update(cachedir=sys.argv[1], extension_modules=sys.argv[1] + "/extmods")
runners = salt.loader.runner(opts, utils=salt.loader.utils(opts))
print(inspect.getfile(runners["haproxy_maint.status"].func))
"""


def test_master_loads_the_runner_from_the_package(installed, tmp_path):
    proc = in_target(installed, sys.executable, "-c", MASTER_RUNNER_FILE, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == installed / PACKAGE / "runners/haproxy_maint.py"


def lb_minion_config(tmp_path, minion_id, file_roots):
    """A masterless LB minion config under ``tmp_path`` with ``file_roots`` and the LB pillar,
    and no module_dirs/states_dirs/utils_dirs: its directory."""
    pillar_root = tmp_path / "pillar"
    pillar_root.mkdir()
    (pillar_root / "top.sls").write_text("base:\n  '*':\n    - lb\n")
    (pillar_root / "lb.sls").write_text(json.dumps(LB_PILLAR))  # JSON is YAML
    cache = tmp_path / "cache"
    config = {
        "id": minion_id,
        "file_client": "local",
        "cachedir": str(cache),
        "extension_modules": str(cache / "extmods"),
        "pki_dir": str(cache / "pki"),
        "sock_dir": str(cache / "sock"),
        "log_file": str(tmp_path / "minion.log"),
        "file_roots": {"base": [str(root) for root in file_roots]},
        "pillar_roots": {"base": [str(pillar_root)]},
        # As harness/converge.py: no systemd here.
        "disable_modules": ["systemd_service"],
    }
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "minion").write_text(json.dumps(config))
    return config_dir


@pytest.fixture
def masterless(installed, tmp_path):
    """A masterless minion config that knows nothing of this repository: file_roots is the
    formula root that ``paths`` prints, no module_dirs/states_dirs/utils_dirs, caches and
    pillar under ``tmp_path``."""
    return lb_minion_config(tmp_path, "lb-pip-1", [paths(installed, "formula").strip()])


def salt_call(target, config_dir, *args):
    """``salt-call --local`` with only ``target`` on the path: (exit code, stdout, stderr)."""
    command = [SALT_CALL, "--local", "-c", str(config_dir), "--retcode-passthrough", *args]
    proc = in_target(target, *command)
    return proc.returncode, proc.stdout, proc.stderr


def test_masterless_minion_runs_the_modules_and_shared_code_from_the_wheel(installed, masterless):
    code, out, err = salt_call(
        installed, masterless, "--out=json", "haproxy_maint.maintained_backends"
    )
    # defaults.yaml from the packaged formula, the pillar, the LB config rules from the
    # installed package: only "app" fails over to the sorry server.
    assert (code, parse_local(out, err)) == (0, ["app"])


def test_masterless_minion_renders_the_packaged_formula(installed, masterless):
    """map.jinja validates the pillar with haproxy_pillar.lb_config (the installed package)
    before any state renders."""
    code, out, err = salt_call(
        installed, masterless, "--out=json", "state.show_sls", "haproxy_maint"
    )
    result = parse_local(out, err)
    assert code == 0, result
    assert isinstance(result, dict), result
    assert {"haproxy-config", "maintenance-page", "haproxy-maint-converged"} <= set(result)


def test_the_modules_import_the_shared_code_from_the_installed_package(installed):
    """The control: with only the installed wheel on the path, the shared package a module
    imports is the wheel's copy (so the runs above did not find a checkout's)."""
    code = f"import {PACKAGE}.lbconfig as m; print(m.__file__)"
    proc = in_target(installed, sys.executable, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == installed / PACKAGE / "lbconfig.py"
    assert not (installed / PACKAGE / "utils").exists()


def test_outputter_loads_from_the_entry_point(installed, masterless):
    """Salt asks entry points for "output" dirs: ``--out=haproxy_maint`` is this package's
    outputter, which prints data that is no status report as plain ``str``."""
    code, out, _ = salt_call(installed, masterless, "--out=haproxy_maint", "test.true")
    assert (code, out.strip()) == (0, "{'local': True}")


# --- route A: a checkout on the fileserver, modules and the shared package synced ----------

ROUTE_A_KINDS = ("_modules", "_states", "_runners", "_utils", "_output")


@pytest.fixture
def route_a(tmp_path):
    """docs/install.md, route A, for a masterless minion: the state tree and a directory of
    symlinks to the checkout's module directories in file_roots; no module_dirs, states_dirs
    or utils_dirs, so what the modules import comes from what saltutil.sync_all copied."""
    ext = tmp_path / "ext"
    ext.mkdir()
    for kind in ROUTE_A_KINDS:
        (ext / kind).symlink_to(REPO / kind)
    return lb_minion_config(tmp_path, "lb-route-a-1", [REPO / "salt", ext])


def route_a_call(config_dir, *args):
    command = [SALT_CALL, "--local", "-c", str(config_dir), "--out=json", *args]
    proc = subprocess.run(command, cwd="/", capture_output=True, text=True, timeout=SALT_TIMEOUT)
    return proc.returncode, parse_local(proc.stdout, proc.stderr)


def test_route_a_syncs_the_shared_package_with_the_modules(route_a):
    code, synced = route_a_call(route_a, "saltutil.sync_all")
    assert code == 0
    assert "utils.saltext_haproxy_maint.lbconfig" in synced["utils"]
    assert "modules.haproxy_maint" in synced["modules"]
    # The modules import the package from the minion's extension modules, nothing else.
    code, backends = route_a_call(route_a, "haproxy_maint.maintained_backends")
    assert (code, backends) == (0, ["app"])
    code, rendered = route_a_call(route_a, "state.show_sls", "haproxy_maint")
    assert code == 0 and isinstance(rendered, dict), rendered
    assert {"haproxy-config", "maintenance-page"} <= set(rendered)
