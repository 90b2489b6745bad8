"""Read-back speed: keys per second of each adapter at 10,000 acknowledged writes, same run.

    python bench/readback_bench.py [--keys 10000] [--repeats 3]

Starts the reference service (one process), writes `--keys` items through its API with an
idempotency key each (the ledger), then reads every key back with:

- `lookup`: `POST /api/writes/lookup`, 10,000 keys a request (the baseline);
- `http`: `GET /api/items/{item_id}` per key, at concurrency 1, 8 and 32, and at 8 on
  `/healthz` (the service's cheapest route: what the adapter itself can do here);
- `sql`: the keys in a SQLite file (`json_each`) and in a throwaway PostgreSQL 15
  (`= ANY(%s)`), batches of 1,000.

Every read-back must find every key (checked). Prints the median keys/s of `--repeats`
runs and the ratio to lookup measured in the same command. The process is patched with
gevent first, as the load engine's master is where read-back runs.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent.pool  # noqa: E402

from harness.runner import http  # noqa: E402
from harness.runner.readback.core import Adapter, check_entries  # noqa: E402
from harness.runner.readback.http_get import HttpAdapter  # noqa: E402
from harness.runner.readback.lookup import LookupAdapter  # noqa: E402
from harness.runner.readback.spec import HttpSpec, SqlSpec  # noqa: E402
from harness.runner.readback.sql import SqlAdapter  # noqa: E402
from harness.service.config import ServiceConfig  # noqa: E402
from harness.service.server import start_service  # noqa: E402
from harness.service.storage.pgserver import PostgresServer, find_pg_bin  # noqa: E402
from harness.service.tokens import Keyring  # noqa: E402

SQLITE_QUERY = "SELECT key FROM writes WHERE key IN (SELECT value FROM json_each(?))"
PG_QUERY = "SELECT key FROM writes WHERE key = ANY(%s)"


def write_items(url: str, token: str, count: int) -> dict[str, dict[str, Any]]:
    """`count` acknowledged creates: {idempotency key: ledger entry with its item_id}."""
    entries: dict[str, dict[str, Any]] = {}

    def create(_: int) -> None:
        key = uuid.uuid4().hex
        body = json.dumps({"name": f"bench {key[:6]}", "category": "tools", "price": 1.5,
                           "quantity": 1}).encode()  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key,
                   "Content-Type": "application/json"}  # fmt: skip
        answer = http.request(f"{url}/api/items", "POST", body=body, headers=headers,
                              timeout_s=30)  # fmt: skip
        if answer.status != 201:
            raise SystemExit(f"create answered {answer.summary()}: {answer.body[:200]!r}")
        item_id = json.loads(answer.body)["item"]["id"]
        entries[key] = {"key": key, "t_ack": time.time(), "item_id": item_id}

    gevent.pool.Pool(16).map(create, range(count))
    return entries


def timed(adapter: Adapter, entries: dict[str, dict[str, Any]], out: Path) -> float:
    """Keys per second of one read-back (every key must be present)."""
    result = check_entries(adapter, entries, time.time() + 1, 300.0, out)
    if result.error or result.present != len(entries):
        raise SystemExit(f"{adapter.name}: {result.detail()}")
    return len(entries) / max(result.took_s, 1e-9)


def sql_targets(keys: list[str], work: Path) -> list[tuple[str, SqlAdapter, Any]]:
    """(label, adapter, server to stop) for SQLite and, where installed, PostgreSQL."""
    db = work / "ledger.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE writes (key TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO writes VALUES (?)", [(k,) for k in keys])
    targets: list[tuple[str, SqlAdapter, Any]] = [
        ("sql sqlite", SqlAdapter(SqlSpec(dsn=f"sqlite:///{db}", query=SQLITE_QUERY), work), None)
    ]
    bin_dir, reason = find_pg_bin()
    if bin_dir is None:
        print(f"(PostgreSQL skipped: {reason})")
        return targets
    server = PostgresServer(bin_dir).start()
    dsn = server.create_database("readback")
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE writes (key text PRIMARY KEY)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO writes VALUES (%s)", [(k,) for k in keys])
    targets.append(("sql postgresql", SqlAdapter(SqlSpec(dsn=dsn, query=PG_QUERY), work), server))
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="readback-bench-"))
    config = ServiceConfig(port=0, workers=1, data_dir=work / "svc", seed_items=10)
    stoppers = []
    with start_service(config, ready_timeout_s=60) as service:
        keyring = Keyring(config.data_dir)
        user = keyring.issue("user", "bench", 3600)
        reader = keyring.issue("service", "bench", 3600)
        started = time.monotonic()
        entries = write_items(service.url, user, args.keys)
        print(f"{len(entries)} writes acknowledged in {time.monotonic() - started:.1f} s")
        auth = {"Authorization": f"Bearer {reader}"}
        spec = HttpSpec(url="/api/items/{item_id}", fields=("item_id",), timeout_s=10)
        adapters: list[tuple[str, Adapter]] = [("lookup", LookupAdapter(service.url, reader))]
        for concurrency in (1, 8, 32):
            http_spec = HttpSpec(**{**spec.__dict__, "concurrency": concurrency})
            adapters.append((f"http c={concurrency}", HttpAdapter(http_spec, service.url, auth)))
        # the adapter's own ceiling: the cheapest route (the key goes in a fragment, never sent)
        ceiling = HttpSpec(url="/healthz#{key}", fields=(), concurrency=8, timeout_s=10)
        adapters.append(("http c=8 healthz", HttpAdapter(ceiling, service.url, {})))
        for label, adapter, server in sql_targets(list(entries), work):
            adapters.append((label, adapter))
            if server is not None:
                stoppers.append(server.stop)
        try:
            rates: dict[str, list[float]] = {label: [] for label, _ in adapters}
            for _ in range(args.repeats):  # interleaved, so load drift hits every adapter
                for label, adapter in adapters:
                    rates[label].append(timed(adapter, entries, work))
        finally:
            for stop in stoppers:
                stop()
    base = statistics.median(rates["lookup"])
    print(f"\nread-back of {len(entries)} keys, median of {args.repeats} "
          f"(reference service, 1 process; 2 shared cores)\n")  # fmt: skip
    print(f"{'adapter':<16}{'keys/s':>12}{'seconds':>10}{'vs lookup':>11}")
    for label, values in rates.items():
        median = statistics.median(values)
        print(f"{label:<16}{median:>12,.0f}{len(entries) / median:>10.2f}{median / base:>11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
