"""One real reference deployment shared by the disaster-recovery fault tests (starting one
takes a few seconds), and small helpers that talk to it through its router.

Every test leaves the deployment serving again (that is what the recovery under test does),
and starts by waiting until it is ready, so the tests do not depend on their order.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.faults import Fault, FaultContext, RecordingSink, clear_fault, inject_fault
from harness.faults.dr.common import http_request, wait_until
from harness.service.tokens import Keyring
from harness.topology.deployment import Deployment, DeploymentConfig
from harness.topology.router import HealthCheck

BOUND_S = 20.0
Injector = Callable[[Fault], float]
SEED_ITEMS = 300


class Sink:
    """Keeps the deployment's own events (thread-safe enough: list appends)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, kind: str, **fields: Any) -> None:
        self.events.append({"kind": kind, **fields})


@pytest.fixture(scope="package")
def topology_events() -> Sink:
    return Sink()


@pytest.fixture(scope="package")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, topology_events: Sink
) -> Iterator[Deployment]:
    config = DeploymentConfig(
        tmp_path_factory.mktemp("dr-deployment"),
        seed_items=SEED_ITEMS,
        standby_interval_s=1.0,
        backup_interval_s=3,
        health=HealthCheck(interval_s=0.1, timeout_s=0.3),
    )
    with Deployment(config, on_event=topology_events) as running:
        yield running


@pytest.fixture
def ctx(deployment: Deployment, tmp_path: Path) -> FaultContext:
    """A fault context on the shared deployment, with its own sink and run directory."""
    assert wait_until(lambda: ready(deployment), BOUND_S), "deployment not ready"
    return FaultContext(
        sink=RecordingSink(), target_url=deployment.url, deployment=deployment, run_dir=tmp_path
    )


@pytest.fixture
def inject(ctx: FaultContext) -> Iterator[Injector]:
    """`inject(fault)`: inject it on `ctx`; every fault injected is cleared at the end, even
    when the test failed (the runner's rule: rollbacks always run; clear is idempotent)."""
    injected: list[Fault] = []

    def run(fault: Fault) -> float:
        injected.append(fault)
        return inject_fault(fault, ctx)

    yield run
    for fault in injected:
        clear_fault(fault, ctx)


@pytest.fixture
def admin(deployment: Deployment) -> Callable[[], str]:
    """`admin()`: a fresh admin token from the deployment's keyring (logged as issued)."""
    return lambda: Keyring(deployment.data_dir).issue("admin", "test-admin", ttl_s=600)


def ready(deployment: Deployment) -> bool:
    """True when the router answers /readyz with 200."""
    return http_request(deployment.url, "GET", "/readyz", timeout_s=1.0).status == 200


def call(
    deployment: Deployment, method: str, path: str, token: str, body: Any = None
) -> tuple[int | None, Any]:
    """One request through the router; (status, decoded JSON or raw body)."""
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if method in ("POST", "PATCH", "DELETE"):
        headers["Idempotency-Key"] = f"test-{uuid.uuid4()}"
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    answer = http_request(deployment.url, method, path, headers=headers, body=data, timeout_s=5)
    try:
        return answer.status, json.loads(answer.body)
    except ValueError:
        return answer.status, answer.body


def write_item(deployment: Deployment, token: str, key: str) -> int:
    """Create an item with idempotency key `key`; returns its write seq."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": key,
        "Content-Type": "application/json",
    }
    body = {"name": key[:100], "category": "dr-test", "price": 1.5, "quantity": 1}
    answer = http_request(
        deployment.url,
        "POST",
        "/api/items",
        headers=headers,
        body=json.dumps(body).encode(),
        timeout_s=5,
    )
    assert answer.status == 201, answer
    return int(json.loads(answer.body)["seq"])


def present_keys(deployment: Deployment, token: str, keys: list[str]) -> set[str]:
    """Which of `keys` the service says were written (POST /api/writes/lookup)."""
    status, body = call(deployment, "POST", "/api/writes/lookup", token, {"keys": keys})
    assert status == 200, body
    return set(body["found"])


def wait_fresh(read: Callable[[], Any], timeout_s: float = BOUND_S) -> Any:
    """Wait until `read()` changes from its current value (a sync, a backup); returns it."""
    first = read()
    found: list[Any] = []

    def changed() -> bool:
        value = read()
        if value != first:
            found.append(value)
            return True
        return False

    assert wait_until(changed, timeout_s, interval_s=0.01), "nothing changed"
    return found[0]


def items_table(deployment: Deployment) -> dict[int, tuple[Any, ...]]:
    """Every item row, read straight from the primary."""
    path = deployment.data_dir / "items.db"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT * FROM items ORDER BY id").fetchall()
    finally:
        conn.close()
    return {int(row[0]): tuple(row) for row in rows}


def kinds(ctx: FaultContext) -> list[str]:
    """The kinds of events the context's sink recorded."""
    sink = ctx.sink
    assert isinstance(sink, RecordingSink)
    return sink.kinds()


def events_of(ctx: FaultContext, kind: str) -> list[dict[str, Any]]:
    """The recorded events of one kind."""
    sink = ctx.sink
    assert isinstance(sink, RecordingSink)
    return [e for e in sink.events if e["kind"] == kind]


def elapsed_since(started: float) -> float:
    """Seconds since a `time.monotonic()` reading, rounded for printing."""
    return round(time.monotonic() - started, 3)
