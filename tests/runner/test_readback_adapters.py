"""Read-back adapters: the [readback] table (bad input names the key), secrets kept out of
run.json, the http adapter against a real HTTP server (present, lost, unknown), the sql
adapter against a real SQLite file, and the checks made before the run."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import pytest

from harness.analysis.data_loss import measure_data_loss
from harness.errors import ConfigError
from harness.runner.readback.adapters import check_readback, recorded_fields
from harness.runner.readback.core import check_entries
from harness.runner.readback.http_get import HttpAdapter
from harness.runner.readback.spec import HttpSpec, SqlSpec, readback_spec, redacted
from harness.runner.readback.sql import SqlAdapter
from harness.scenarios import load_scenario


def spec_error(table: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        readback_spec(table, "s.toml")
    return str(info.value)


def test_malformed_tables_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    assert spec_error({"type": "grpc"}).startswith("s.toml: readback.type: expected one of")
    assert spec_error({"type": "http"}).startswith("s.toml: readback.url: is required")
    assert "readback.url" in spec_error({"type": "http", "url": "/o/{key!r}"})
    assert "readback.url" in spec_error({"type": "http", "url": "/orders"})
    assert "readback.present[0]" in spec_error({"type": "http", "url": "/{key}", "present": [7]})
    assert "readback.absent" in spec_error({"type": "http", "url": "/{key}", "absent": [200]})
    assert "readback.concurrency" in spec_error({"type": "http", "url": "/{key}",
                                                 "concurrency": 0})  # fmt: skip
    missing = spec_error({"type": "http", "url": "/{key}", "headers": {"X": "$NO_SUCH_TOKEN"}})
    assert missing == "s.toml: readback.headers.X: environment variable 'NO_SUCH_TOKEN' is not set"
    assert "readback.dsn" in spec_error({"type": "sql", "dsn": "mysql://x/y", "query": "q"})
    assert "readback.query" in spec_error({"type": "sql", "dsn": "sqlite:///x.db"})
    typo = spec_error({"type": "sql", "dsn": "sqlite:///x", "query": "q", "bacth": 5})
    assert typo.startswith("s.toml: readback.bacth: unknown key (did you mean 'batch'?)")
    spec = readback_spec({"type": "http", "url": "/o/{order_id}/{key}"}, "s.toml")
    assert isinstance(spec, HttpSpec) and spec.fields == ("order_id",)
    assert spec.present == (200,) and spec.absent == (404, 410)


def test_secrets_never_reach_run_json() -> None:
    headers = {"Authorization": "Bearer s3cret", "X-Api-Key": "$ORDERS_TOKEN"}
    table = {"type": "http", "url": "/{key}", "headers": headers}
    assert redacted(table)["headers"] == {"Authorization": "<redacted>",
                                          "X-Api-Key": "$ORDERS_TOKEN"}  # fmt: skip
    dsn = redacted({"type": "sql", "dsn": "postgresql://app:pw@127.0.0.1:5/shop", "query": "q"})
    assert dsn["dsn"] == "postgresql://app:<redacted>@127.0.0.1:5/shop"
    absolute = "sqlite:////var/lib/shop.db"
    assert redacted({"type": "sql", "dsn": absolute, "query": "q"})["dsn"] == absolute


class Orders(BaseHTTPRequestHandler):
    """GET /orders/<key>?region=<r>: the status scripted for the key."""

    protocol_version = "HTTP/1.1"
    statuses: ClassVar[dict[str, int]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        key = unquote(self.path.split("/")[-1].split("?")[0])
        status = self.statuses.get(key, 404)
        if self.headers.get("Authorization") != "Bearer t0k":
            status = 401
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def orders() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Orders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_adapter_sorts_keys_into_present_lost_and_unknown(
    orders: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_TOKEN", "Bearer t0k")
    Orders.statuses = {"a": 200, "b": 200, "c": 410, "e": 503, "f": 302, "g w": 200}
    Orders.seen = []
    spec = readback_spec({"type": "http", "url": "/orders/{key}?region={region}",
                          "headers": {"Authorization": "env:ORDERS_TOKEN"}, "timeout_s": 2,
                          "concurrency": 3}, "s.toml")  # fmt: skip
    assert isinstance(spec, HttpSpec)
    adapter = HttpAdapter(spec, orders, {"Authorization": "Bearer t0k"}, retry_every_s=0.05)
    now = time.time()
    keys = ["a", "b", "c", "d", "e", "f", "g w", "h"]
    entries = {k: {"key": k, "t_ack": now - 10 + i, "region": "eu"} for i, k in enumerate(keys)}
    del entries["h"]["region"]
    result = check_entries(adapter, entries, now, 0.5, tmp_path)
    assert (result.present, result.missing, result.unknown) == (3, 2, 3)
    stored = json.loads((tmp_path / "readback.json").read_text())
    assert sorted(stored["present"]) == ["a", "b", "g w"]
    assert sorted(stored["unknown"]) == ["e", "f", "h"]
    assert stored["counts"] == {"present": 3, "lost": 2, "unknown": 3}
    assert "/orders/g%20w?region=eu" in Orders.seen
    assert Orders.seen.count("/orders/e?region=eu") > 1  # a 5xx is tried again
    assert Orders.seen.count("/orders/f?region=eu") == 1  # a status in neither list is not
    loss = measure_data_loss(entries.values(), stored, now - 5)
    assert (loss.lost_writes, loss.unknown_writes, loss.rpo_s) == (2, 3, None)


def test_sql_adapter_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO orders VALUES (?)", [(f"k{i}",) for i in range(0, 50, 2)])
    query = "SELECT order_id FROM orders WHERE order_id IN (SELECT value FROM json_each(?))"
    spec = readback_spec({"type": "sql", "dsn": "sqlite:///shop.db", "query": query,
                          "batch": 7}, "s.toml")  # fmt: skip
    assert isinstance(spec, SqlSpec)
    adapter = SqlAdapter(spec, tmp_path)
    adapter.probe()
    entries = {f"k{i}": {"t_ack": 1.0} for i in range(50)}
    result = check_entries(adapter, entries, 2.0, 5.0, tmp_path)
    assert (result.present, result.missing, result.unknown) == (25, 25, 0)
    gone = SqlAdapter(SqlSpec(dsn="sqlite:///none.db", query=query), tmp_path, retry_every_s=0.05)
    with pytest.raises(ConfigError, match="no database file"):
        gone.probe()
    failed = check_entries(gone, entries, 2.0, 0.2, tmp_path)
    assert failed.error is not None and "did not answer" in failed.error
    assert "error" in json.loads((tmp_path / "readback.json").read_text())
    with pytest.raises(ConfigError, match="no such table"):
        SqlAdapter(SqlSpec(dsn="sqlite:///shop.db", query="SELECT x FROM nope"), tmp_path).probe()


def test_checks_before_the_run(tmp_path: Path) -> None:
    users = tmp_path / "users.py"
    users.write_text("from harness import ledger\nledger.record('k', order_id=1, n=2)\n")
    assert recorded_fields(users) == {"order_id", "n"}
    spread = tmp_path / "spread.py"
    spread.write_text("from harness import ledger\nledger.record('k', **row)\n")
    assert recorded_fields(spread) is None
    text = ('name = "s"\ntarget = "http://127.0.0.1:9"\n[fault]\ntype = "command"\n'
            'params = { command = "true" }\n[readback]\n')  # fmt: skip
    path = tmp_path / "s.toml"
    path.write_text(text + 'type = "http"\nurl = "/o/{region}/{key}"\n')
    with pytest.raises(ConfigError) as info:
        check_readback(load_scenario(path), users)
    assert str(info.value).startswith(f"{path}: readback.url: the template names {{region}}")
    check_readback(load_scenario(path), spread)  # not knowable: left to the run
    path.write_text(text + 'type = "sql"\ndsn = "postgresql://nobody@127.0.0.1:9/x"\nquery = "q"\n')
    with pytest.raises(ConfigError) as info:
        check_readback(load_scenario(path), users)
    assert str(info.value).startswith(f"{path}: readback.dsn: the read-back database:")


def test_sql_adapter_on_postgresql(postgres_dsn: str, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (order_id text PRIMARY KEY)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO orders VALUES (%s)", [(f"k{i}",) for i in range(0, 30, 3)])
    query = "SELECT order_id FROM orders WHERE order_id = ANY(%s)"
    adapter = SqlAdapter(SqlSpec(dsn=postgres_dsn, query=query, batch=4), tmp_path)
    adapter.probe()
    entries = {f"k{i}": {"t_ack": 1.0} for i in range(30)}
    result = check_entries(adapter, entries, 2.0, 5.0, tmp_path)
    assert (result.present, result.missing, result.unknown) == (10, 20, 0)
    bad = SqlAdapter(
        SqlSpec(dsn=postgres_dsn, query=query.replace("SELECT order_id", "SELECT nope")), tmp_path
    )
    with pytest.raises(ConfigError, match='column "nope" does not exist'):
        bad.probe()
