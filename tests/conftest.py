"""Shared fixtures: paths to the real data kept beside the repository, and service fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

import os

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CITES_HUB_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real data (trade records, species list, EPIX messages): $CITES_HUB_TEST_DATA."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder not found at {SHARED_DATA}; set CITES_HUB_TEST_DATA")
    return SHARED_DATA


# -- real services --------------------------------------------------------------------------------
# Each test run gets its own RabbitMQ vhost and its own PostgreSQL database and removes them after.
# Where a service cannot be reached, its tests skip locally with the reason and fail when CI is set.

import os
import shutil
import socket
import subprocess
import uuid

RABBITMQ_HOST, RABBITMQ_PORT = "127.0.0.1", 5672
POSTGRES_ADMIN_URL = os.environ.get("CITES_HUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required when CI is set)")
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def rabbitmq_url():
    """An amqp:// URL on a new vhost, deleted after the test with every queue in it.

    A vhost per test keeps RabbitMQ from piling up the quorum queues of every hub a run starts,
    which made later connections time out after the fault tests restarted the broker.
    """
    if not _port_open(RABBITMQ_HOST, RABBITMQ_PORT):
        _unavailable(f"RabbitMQ is not listening on {RABBITMQ_HOST}:{RABBITMQ_PORT}")
    if shutil.which("rabbitmqctl") is None:
        _unavailable("rabbitmqctl is not installed, so no test vhost can be made")
    vhost = f"cites-hub-test-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def postgres_url():
    """A SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    # pool_pre_ping: a fault test restarts PostgreSQL, and the drop below must still get through.
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    database = f"cites_hub_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
    except OperationalError as error:
        admin.dispose()
        _unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error.orig}")
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def make_hub(tmp_path):
    """Start hubs from test configurations (tests/factories.py) and stop them after the test."""
    from adapters.stub import StubAdapter
    from hub.runtime import Hub
    from tests.factories import hub_config

    started = []
    StubAdapter.reset()

    def make(**options):
        hub = Hub(hub_config(tmp_path, **options))
        hub.start()
        started.append(hub)
        return hub

    yield make
    for hub in started:
        hub.stop()
    StubAdapter.reset()


@pytest.fixture
def sink():
    """A permit store simulator on a fixed free port (so that it can stop and start again at the same URL)."""
    from adapters.permit_store.simulator import PermitStoreSimulator
    from hub.server import free_port

    simulator = PermitStoreSimulator(port=free_port())
    simulator.start()
    yield simulator
    simulator.stop()


def pytest_collection_modifyitems(config, items):
    """Run the tests that break RabbitMQ and PostgreSQL on purpose last, so nothing else waits on their recovery."""
    disruptive = ("tests/test_faults.py", "tests/test_scale_out.py")
    items.sort(key=lambda item: item.nodeid.startswith(disruptive))
