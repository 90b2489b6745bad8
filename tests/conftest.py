"""Shared fixtures: a real reference service on an ephemeral loopback port, tokens for it,
a small JSON-over-HTTP client with Nagle off, and a real throwaway PostgreSQL server."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.service.config import ServiceConfig
from harness.service.server import ServiceProcess, start_service
from harness.service.storage.pgserver import PostgresServer, find_pg_bin

SERVICE_SEED_ITEMS = 2000


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, headers (lower-case names) and body (JSON decoded if JSON)."""

    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes


class HttpClient:
    """A minimal HTTP/1.1 client for tests; one connection per request, TCP_NODELAY on."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.token = token
        self.timeout_s = timeout_s

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request; `body` is sent as JSON unless it is bytes."""
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            reply_headers = {name.lower(): value for name, value in response.getheaders()}
        finally:
            conn.close()
        decoded: Any = raw
        if reply_headers.get("content-type", "").startswith("application/json"):
            decoded = json.loads(raw)
        return Reply(response.status, reply_headers, decoded, raw)

    def get(self, path: str, **kwargs: Any) -> Reply:
        """GET `path`."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        """POST `body` as JSON to `path`."""
        return self.request("POST", path, body=body, **kwargs)


def issue_token(data_dir: Path, role: str, sub: str | None = None) -> str:
    """A token for `role` signed by the keyring in `data_dir`."""
    from harness.service.tokens import Keyring

    return Keyring(data_dir).issue(role, sub or f"test-{role}")


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One real `harness serve` (1 worker, 2000 seeded items) for the whole session."""
    data_dir = tmp_path_factory.mktemp("service-data")
    config = ServiceConfig(port=0, workers=1, data_dir=data_dir, seed_items=SERVICE_SEED_ITEMS)
    with start_service(config, ready_timeout_s=60) as running:
        yield running


@pytest.fixture(scope="session")
def token_for(service: ServiceProcess) -> Callable[[str], str]:
    """`token_for(role)`: a token accepted by the session's service."""
    return lambda role: issue_token(service.config.data_dir, role)


@pytest.fixture(scope="session")
def admin_token(token_for: Callable[[str], str]) -> str:
    """An admin token for the session's service."""
    return token_for("admin")


@pytest.fixture(scope="session")
def make_client() -> Callable[..., HttpClient]:
    """`make_client(base_url, token=None)`: an HttpClient for any server a test starts."""
    return HttpClient


@pytest.fixture(scope="session")
def make_token() -> Callable[..., str]:
    """`make_token(data_dir, role, sub=None)`: a token for a server on `data_dir`."""
    return issue_token


@pytest.fixture(scope="session")
def client(service: ServiceProcess, admin_token: str) -> HttpClient:
    """An HTTP client for the session's service, authenticated as admin."""
    return HttpClient(service.url, admin_token)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15 on a free loopback port for the session (initdb in /tmp).

    Skipped, with the reason, where its programs are absent; a failure in CI (env CI set),
    where they must be installed (.ci/run installs them).
    """
    bin_dir, reason = find_pg_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(reason)
    with PostgresServer(bin_dir) as server:
        yield server


_database_numbers = itertools.count(1)


@pytest.fixture()
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database(f"test_{os.getpid()}_{next(_database_numbers)}")


@pytest.fixture(scope="session")
def postgres_cluster_binaries() -> None:
    """Skip (saying why) when Patroni, etcd, HAProxy or PostgreSQL 15 is not installed here;
    in CI (`CI` set) that is a failure instead: the CI image must have them (.ci/run)."""
    import os

    from harness.topology.postgres.config import DEFAULT_BIN_DIR
    from harness.topology.postgres.host import missing_binaries

    missing = missing_binaries(DEFAULT_BIN_DIR)
    if not missing:
        return
    reason = f"PostgreSQL cluster binaries absent: {', '.join(missing)} (see .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must install them")
    pytest.skip(reason)
