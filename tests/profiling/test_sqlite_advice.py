"""Index advice on the reference service's SQLite file, from its own statement timings,
under a filter-heavy load of real HTTP requests against a real `harness serve`."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest

from harness.profiling.service_source import ServiceStatements
from harness.profiling.sqlite_advisor import SampledStatement, advise_sqlite
from harness.service.config import ServiceConfig
from harness.service.server import start_service
from tests.conftest import HttpClient, issue_token

SEED_ITEMS = 5000
REQUESTS = 120


def _filter_load(client: HttpClient, names: list[str]) -> None:
    """Exact-name filters: each matches a row or two, which only an index finds fast (each
    name once: the edge cache would answer a repeated one without a statement)."""
    assert len(names) == REQUESTS
    for name in names:
        reply = client.get(f"/api/items?filter={quote(f'name = {name}')}&limit=20")
        assert reply.status == 200, reply.body


def _advice(db_path: Path, window: ServiceStatements) -> tuple[list[str], list[float]]:
    source, statements = window.finish()
    listing = [s for s in statements if s.route == "GET /api/items"]
    assert listing and sum(s.calls for s in listing) == REQUESTS
    assert source.statements[0].share > 0
    advice = advise_sqlite(
        db_path, [SampledStatement(s.sql, s.sample_sql, s.sample_params) for s in statements]
    )
    assert advice.plans and advice.plans[0].lines
    return [r.create_index for r in advice.recommendations], [
        r.speedup for r in advice.recommendations
    ]


@pytest.mark.e2e
def test_the_dropped_index_is_recommended_with_a_measured_speedup_and_none_when_indexed(
    tmp_path: Path,
) -> None:
    config = ServiceConfig(port=0, workers=1, data_dir=tmp_path, seed_items=SEED_ITEMS)
    with start_service(config, ready_timeout_s=60) as service:
        db_path = config.items_db_path
        with sqlite3.connect(db_path) as conn:
            names = [row[0] for row in conn.execute("SELECT DISTINCT name FROM items")]
        token = issue_token(tmp_path, "service")
        client = HttpClient(service.url, issue_token(tmp_path, "user"))

        window = ServiceStatements(service.url, token)
        window.start()
        _filter_load(client, names[:REQUESTS])
        indexes, _ = _advice(db_path, window)
        assert indexes == []  # every filtered column has its index: nothing to advise

        with sqlite3.connect(db_path) as conn:
            conn.execute("DROP INDEX items_name")
        window.start()
        _filter_load(client, names[REQUESTS : 2 * REQUESTS])
        indexes, speedups = _advice(db_path, window)
    assert indexes == ['CREATE INDEX "items_name_idx" ON "items" (name)']
    assert speedups[0] > 1.1
