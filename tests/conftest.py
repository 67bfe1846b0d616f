"""Fixtures shared by every test layer: real haproxy processes on loopback."""

import pytest

from tests.support.haproxy import HAProxy


@pytest.fixture
def haproxy_factory(tmp_path_factory):
    """Start real haproxy processes; every one is stopped by PID at the end of the test."""
    started = []

    def factory(backends, **kwargs):
        workdir = tmp_path_factory.mktemp("haproxy")
        instance = HAProxy(workdir=workdir, backends=backends, **kwargs).start()
        started.append(instance)
        return instance

    yield factory
    for instance in started:
        instance.stop()
