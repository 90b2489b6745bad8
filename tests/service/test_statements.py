"""Statement timing in the reference service: normalization, per-route tables, the route."""

from __future__ import annotations

import contextvars
import sqlite3
from pathlib import Path

import pytest
from falcon import testing

from harness.service.statements import (
    StatementTimer,
    TimedConnection,
    normalize_sql,
    statement_totals,
)


def test_literals_and_in_lists_normalize_to_one_shape() -> None:
    assert normalize_sql("SELECT * FROM t WHERE a = 'x''y' AND b > 12.5  LIMIT 3") == (
        "SELECT * FROM t WHERE a = ? AND b > ? LIMIT ?"
    )
    assert normalize_sql("SELECT 1 FROM t WHERE c IN (?, ?, ?)") == normalize_sql(
        "SELECT 1 FROM t WHERE c IN (?,?)"
    )
    assert normalize_sql("SELECT col2 FROM t2 WHERE x = ?") == "SELECT col2 FROM t2 WHERE x = ?"


def test_timed_statements_are_summed_across_processes_with_their_slowest_sample(
    tmp_path: Path,
) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, str(i)) for i in range(100)])
    timer = StatementTimer(tmp_path)
    timed = TimedConnection(conn, timer)

    def work() -> None:
        for value in (1, 2, 3):
            found = timed.execute("SELECT b FROM t WHERE a = ?", (value,)).fetchone()
            assert found == (str(value),)
        assert len(timed.execute("SELECT b FROM t WHERE a IN (?, ?)", (1, 2)).fetchall()) == 2
        timed.execute("SELECT b FROM t WHERE a IN (?, ?, ?)", (1, 2, 3)).fetchall()

    # a fresh context, as outside any request: an earlier test's request on this thread
    # leaves its route set (the next request sets its own)
    contextvars.Context().run(work)
    rows, files = timer.totals()
    assert files == 1
    by_sql = {row["sql"]: row for row in rows}
    single = by_sql["SELECT b FROM t WHERE a = ?"]
    assert single["calls"] == 3 and single["rows"] == 3 and single["total_ns"] > 0
    assert single["sample_params"] in ([1], [2], [3]) and single["route"] == "-"
    listed = by_sql["SELECT b FROM t WHERE a IN (?, ...)"]
    assert listed["calls"] == 2 and listed["rows"] == 5
    (tmp_path / "4242.json").write_text((tmp_path / f"{timer._pid}.json").read_text())
    summed, files = statement_totals(tmp_path)
    assert files == 2
    assert {r["sql"]: r for r in summed}["SELECT b FROM t WHERE a = ?"]["calls"] == 6


@pytest.mark.parametrize("timing", [True, False])
def test_statements_route_is_per_route_and_needs_metrics_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timing: bool
) -> None:
    from harness.service.app import create_app
    from harness.service.config import ServiceConfig
    from harness.service.tokens import Keyring

    config = ServiceConfig(data_dir=tmp_path, seed_items=50, statement_timing=timing)
    client = testing.TestClient(create_app(config))
    keyring = Keyring(tmp_path)
    viewer = {"Authorization": f"Bearer {keyring.issue('viewer', 'v', 60)}"}
    service = {"Authorization": f"Bearer {keyring.issue('service', 's', 60)}"}
    assert client.simulate_get("/api/items/7", headers=viewer).status_code == 200
    assert client.simulate_get("/admin/statements", headers=viewer).status_code == 403
    answer = client.simulate_get("/admin/statements", headers=service)
    assert answer.status_code == 200 and answer.json["enabled"] is timing
    routes = {row["route"] for row in answer.json["statements"]}
    assert ("GET /api/items/{item_id:int}" in routes) is timing
