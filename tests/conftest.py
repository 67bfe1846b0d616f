"""Fixtures shared by every test layer: real haproxy processes on loopback; the test
process's logging and salt-factories' listeners set up for a test run on one machine."""

import shutil

import pytest
import salt._logging
from saltfactories.plugins.event_listener import EventListener

from harness.haproxy import HAProxy
from harness.sandbox import CHROOT_STATUS_DIRS

LOOPBACK = "127.0.0.1"


def pytest_configure(config):
    """Hand the test process's logging to pytest: remove Salt's temporary log handler.

    Importing Salt puts a ``DeferredStreamHandler`` on the root logger that queues every
    WARNING and above (up to 10,000 records) for the ``sys.stderr`` of that moment and writes
    them all from an ``atexit`` hook. Salt's CLI replaces it once it has set up logging; here
    pytest sets up logging, and Salt is first imported while pytest captures output, so that
    stream is pytest's capture file, closed by exit time: each queued record, most of them
    forwarded by salt-factories' log server from the daemons, then failed with "--- Logging
    error --- ... I/O operation on closed file". Shutting the handler down hands what it
    queued so far to the root logger's other handlers, and from then on records reach
    pytest's handlers only (shown with a failing test, or live with ``--log-cli-level``).
    """
    salt._logging.shutdown_temp_handler()


@pytest.hookimpl(wrapper=True)
def pytest_sessionstart(session):
    """Bind salt-factories' log server to loopback (its default is 0.0.0.0) before it starts;
    the daemons it starts read the address from it."""
    log_server = session.config.pluginmanager.get_plugin("saltfactories-log-server")
    if log_server is not None:
        log_server.log_host = LOOPBACK
    return (yield)


def pytest_sessionfinish(session):
    """The sandboxes' status documents inside HAProxy's chroot (harness.sandbox.status_dir):
    gone with the tests, whichever way they ended."""
    shutil.rmtree(CHROOT_STATUS_DIRS, ignore_errors=True)


@pytest.fixture(scope="session")
def event_listener():
    """salt-factories' event listener (every master forwards its events to it), bound to
    loopback: its default is 0.0.0.0 and its host is not a constructor argument."""
    listener = EventListener()
    listener.host = LOOPBACK
    listener.address = f"tcp://{LOOPBACK}:{listener.port}"
    with listener:
        yield listener


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
