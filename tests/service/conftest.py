"""The service's HTTP tests run against both storage backends: `service` (overriding the
session-wide SQLite one) and `database` are parametrized over sqlite and postgresql."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.service.config import ServiceConfig
from harness.service.server import ServiceProcess, start_service
from harness.service.tokens import Keyring

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


# Overridden here, not inherited: session fixtures that depend on `service` must be this
# directory's own, or one made for the session-wide service elsewhere in the run would be
# reused with the backends' services here (tokens signed by another service's keys).
@pytest.fixture(scope="session")
def token_for(service: ServiceProcess) -> Callable[[str], str]:
    """`token_for(role)`: a token accepted by this backend's service."""
    return lambda role: Keyring(service.config.data_dir).issue(role, f"test-{role}")


@pytest.fixture(scope="session")
def admin_token(token_for: Callable[[str], str]) -> str:
    """An admin token for this backend's service."""
    return token_for("admin")


@pytest.fixture(scope="session")
def client(service: ServiceProcess, admin_token: str, make_client: Callable[..., Any]) -> Any:
    """An HTTP client for this backend's service, authenticated as admin."""
    return make_client(service.url, admin_token)
