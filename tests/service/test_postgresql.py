"""The PostgreSQL backend against a real server: the 12 filter operators select exactly
what SQLite selects, the service rides out a server crash and restart (503s, then the pool
reconnects), and a database URL that does not connect is bad input (exit 2, one line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.service.config import ServiceConfig
from harness.service.filters import parse_filter, to_sql
from harness.service.server import pick_free_port, start_service
from harness.service.storage import SqliteDatabase, Storage, create_sqlite
from harness.service.storage.pgserver import PostgresServer
from harness.service.storage.postgresql import PostgresDatabase, create_postgresql
from harness.testing import wait_until

FILTERS = (
    "",
    "id = 7",
    "status != archived",
    "price > 250.5",
    "quantity < 100",
    "price >= 100; price <= 200",
    "status in (active, pending)",
    "category !in (books, toys)",
    "quantity in (394, 573, 1, 2)",
    "name like %wrench%",
    'name like "HEAVY%"',
    "name like _olden%",
    "name !like %a%",
    "name starts Heavy",
    "name ends 7",
    "category starts B",
    "created_at >= 2024-01-02",
    'created_at < "2024-01-01T12:00:00+00:00"',
)
SORTS = ("id", "-id", "price", "-price", "name", "-name", "created_at", "quantity")


@pytest.fixture()
def both(tmp_path: Path, postgres_dsn: str) -> Iterator[tuple[Storage, Storage]]:
    create_sqlite(tmp_path / "items.db", 300)
    create_postgresql(postgres_dsn, 300)
    sqlite, postgres = (
        Storage(SqliteDatabase(tmp_path / "items.db")),
        Storage(PostgresDatabase(postgres_dsn, max_size=2)),
    )
    yield sqlite, postgres
    sqlite.db.close()
    postgres.db.close()


def _walk(storage: Storage, filter_text: str, sort: str) -> list[Any]:
    where, params = to_sql(parse_filter(filter_text), storage.dialect.name)
    items: list[Any] = []
    after = None
    for _ in range(100):  # bounded: 300 items, 7 a page
        page = storage.list_items(
            where, params, sort_field=sort.lstrip("-"), descending=sort.startswith("-"),
            limit=7, after=after,
        )  # fmt: skip
        items += [json.loads(text) for text in page.items]
        if page.next_key is None:
            return items
        after = page.next_key
    raise AssertionError("pagination did not end")


def test_every_operator_and_sort_selects_the_same_items_on_both_backends(
    both: tuple[Storage, Storage],
) -> None:
    sqlite, postgres = both
    for filter_text in FILTERS:
        for sort in SORTS if filter_text in ("", "status != archived") else SORTS[:3]:
            expected = _walk(sqlite, filter_text, sort)
            assert _walk(postgres, filter_text, sort) == expected, (filter_text, sort)
        assert expected or filter_text == "id = 7", f"{filter_text!r} matched nothing"


@pytest.mark.e2e
def test_the_service_rides_out_a_postgresql_crash_and_restart(
    tmp_path: Path, make_client: Callable[..., Any], make_token: Callable[..., str]
) -> None:
    from harness.service.storage.pgserver import find_pg_bin

    bin_dir, reason = find_pg_bin()
    if bin_dir is None:
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    with PostgresServer(bin_dir) as server:
        config = ServiceConfig(port=0, data_dir=tmp_path, seed_items=50, database=server.dsn())
        with start_service(config) as service:
            client = make_client(service.url, make_token(tmp_path, "user"))
            body = {"name": "n", "category": "c", "price": 1, "quantity": 1}
            assert client.post("/api/items", body, headers={"Idempotency-Key": "k1"}).status == 201
            # A fast restart cuts every pooled connection: a request on a dead one is a 503,
            # and the pool replaces them.
            server.restart("fast")
            statuses: list[int] = []

            def item_served() -> bool:
                statuses.append(client.get("/api/items/1").status)
                return statuses[-1] == 200

            wait_until(item_served, timeout_s=10)
            assert set(statuses) <= {200, 503} and len(statuses) <= 3, statuses
            # A crash: while it is down, requests are 503 JSON, not 500s, and not hangs.
            server.stop_server("immediate")
            down = client.post("/api/items", body, headers={"Idempotency-Key": "k2"})
            assert (down.status, down.body["error"]) == (503, "storage_unavailable")
            assert down.headers["retry-after"] == "1"
            assert client.get("/api/items?filter=id%3C9").status == 503
            assert client.get("/readyz").status == 503
            server.start_server()
            wait_until(lambda: client.get("/readyz").status == 200, timeout_s=30)
            again = client.post("/api/items", body, headers={"Idempotency-Key": "k2"})
            assert again.status == 201
            reader = make_client(service.url, make_token(tmp_path, "service"))
            found = reader.post("/api/writes/lookup", {"keys": ["k1", "k2"]}).body["found"]
            assert set(found) == {"k1", "k2"}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("database", "named"),
    [
        ("postgresql://harness:s3cret@127.0.0.1:{port}/items", "127.0.0.1:{port}"),
        ("postgresql://harness:s3cret@127.0.0.1:notaport/items", "notaport"),
        ("mysql://harness:s3cret@127.0.0.1/items", "--database"),
    ],
)
def test_a_database_that_does_not_connect_is_exit_2_in_one_line(
    tmp_path: Path, database: str, named: str
) -> None:
    port = pick_free_port("127.0.0.1")  # nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "harness", "serve", "--port", "0", "--data-dir", str(tmp_path)],
        env={**os.environ, "HARNESS_DATABASE": database.format(port=port)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named.format(port=port) in lines[0]
    assert "s3cret" not in result.stderr + result.stdout
    print(lines[0])


def test_a_worker_starts_while_postgresql_is_down_and_answers_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import falcon.testing

    from harness.service.app import create_app

    dead = f"postgresql://postgres@127.0.0.1:{pick_free_port('127.0.0.1')}/items"
    env = ServiceConfig(data_dir=tmp_path, seed_items=10, database=dead).to_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = falcon.testing.TestClient(create_app())  # as granian's worker calls it
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 503
    assert client.simulate_get("/healthz").status_code == 200


def test_a_write_to_a_read_only_server_is_unavailable(
    postgres_dsn: str,
) -> None:
    from harness.service.storage import Actor, StorageUnavailable

    create_postgresql(postgres_dsn, 5)
    # What a demoted primary answers after a failover: every transaction is read-only.
    storage = Storage(
        PostgresDatabase(f"{postgres_dsn}?options=-c%20default_transaction_read_only%3Don")
    )
    try:
        assert storage.get(1) is not None  # reads still work
        fields = {"name": "n", "category": "c", "price": 1.0, "quantity": 1, "status": "active"}
        with pytest.raises(StorageUnavailable) as raised:
            storage.create(fields, "k", Actor(sub="u"))
        assert raised.value.code == "PG_25006"
    finally:
        storage.db.close()
