"""The service's HTTP tests run against both storage backends: `service` (overriding the
session-wide SQLite one) and `database` are parametrized over sqlite and postgresql."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from harness.service.config import ServiceConfig
from harness.service.server import ServiceProcess, start_service

SERVICE_SEED_ITEMS = 2000  # as the session-wide service of tests/conftest.py

BACKENDS = ("sqlite", "postgresql")
_numbers = itertools.count(1)


def _database(request: pytest.FixtureRequest, name: str) -> str:
    if request.param == "sqlite":
        return "sqlite"
    server = request.getfixturevalue("postgres_server")
    return str(server.create_database(name))


@pytest.fixture(scope="session", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """One real `harness serve` (1 worker, 2000 seeded items) per backend."""
    data_dir = tmp_path_factory.mktemp(f"service-{request.param}")
    config = ServiceConfig(
        port=0,
        workers=1,
        data_dir=data_dir,
        seed_items=SERVICE_SEED_ITEMS,
        database=_database(request, "http_service"),
    )
    with start_service(config, ready_timeout_s=60) as running:
        yield running


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest) -> str:
    """The `database` setting of a service a test starts itself: sqlite, or a new database
    on the session's PostgreSQL server."""
    return _database(request, f"t_{next(_numbers)}_{os.getpid()}")
