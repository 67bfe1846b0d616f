"""The project's modules loaded through Salt's own loader, against real haproxy processes."""

from pathlib import Path

import pytest
from saltfactories.utils.functional import Loaders

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def minion_opts(salt_factories):
    factory = salt_factories.salt_minion_daemon(
        "functional-minion",
        overrides={
            "file_client": "local",
            "module_dirs": [str(REPO / "_modules")],
            "states_dirs": [str(REPO / "_states")],
            "utils_dirs": [str(REPO / "_utils")],
            "file_roots": {"base": [str(REPO / "salt")]},
        },
    )
    return factory.config.copy()


@pytest.fixture(scope="package")
def loaders(minion_opts):
    return Loaders(minion_opts)


@pytest.fixture(autouse=True)
def reset_loaders_state(loaders):
    try:
        yield
    finally:
        loaders.reset_state()


@pytest.fixture
def modules(loaders):
    return loaders.modules


@pytest.fixture
def states(loaders):
    return loaders.states
