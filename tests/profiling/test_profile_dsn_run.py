"""A real `harness run` with `--profile-dsn`: the reference service on a real PostgreSQL with
an index dropped, a user's locustfile filtering on that column, pg_stat_statements read
over the window, and the missing index recommended in profile.json and the report."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from harness.rundir import read_profile
from harness.service.config import ServiceConfig
from harness.service.server import start_service
from harness.service.storage.pgserver import PostgresServer
from harness.testing import finish, start_harness
from tests.conftest import issue_token

LOCUSTFILE = """
import json
import os
import random
from urllib.parse import quote

from locust import FastHttpUser, constant_throughput, task

NAMES = json.loads(open(os.environ["PROFILE_NAMES"]).read())
HEADERS = {"Authorization": "Bearer " + os.environ["PROFILE_TOKEN"]}


class NameFilter(FastHttpUser):
    wait_time = constant_throughput(25)

    @task
    def by_name(self):
        name = quote("name = " + random.choice(NAMES))
        self.client.get(f"/api/items?filter={name}&limit=20", headers=HEADERS,
                        name="/api/items?filter=name")
"""


@pytest.mark.e2e
@pytest.mark.slow
def test_run_with_profile_dsn_recommends_the_dropped_index(
    tmp_path: Path, profiled_postgres: PostgresServer
) -> None:
    dsn = profiled_postgres.create_database(f"profile_run_{id(tmp_path)}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    config = ServiceConfig(port=0, workers=1, data_dir=tmp_path / "svc", seed_items=20_000,
                           database=dsn)  # fmt: skip
    with start_service(config, ready_timeout_s=60) as service:
        with psycopg.connect(dsn, autocommit=True) as conn:
            names = [r[0] for r in conn.execute("SELECT DISTINCT name FROM items LIMIT 2000")]
            conn.execute("DROP INDEX items_name")
        (tmp_path / "names.json").write_text(json.dumps(names))
        locustfile = tmp_path / "names.py"
        locustfile.write_text(LOCUSTFILE)
        run_dir = tmp_path / "run"
        code, _out, err = finish(
            start_harness(
                "run", "--host", service.url, "--locustfile", str(locustfile),
                "--users", "4", "--spawn-rate", "4", "--duration", "6s", "--workers", "1",
                "--out", str(run_dir), "--profile-dsn", dsn,
                env={"PROFILE_NAMES": str(tmp_path / "names.json"),
                     "PROFILE_TOKEN": issue_token(config.data_dir, "viewer")},
            )
        )  # fmt: skip
    assert code == 0, err
    profile = read_profile(run_dir)
    assert profile is not None
    (pg,) = [s for s in profile.sources if s.source == "postgresql"]
    top = pg.statements[0]
    assert "name = $1" in top.sql and top.calls > 20 and top.share > 0.3
    recs = [r for r in pg.recommendations if "(name" in r.create_index]
    assert recs and recs[0].speedup > 1.1, pg.plans
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert recs[0].create_index in html and "pg_stat_statements" in html
    assert "warning" not in [json.loads(line)["kind"] for line in
                             (run_dir / "events.jsonl").read_text().splitlines()]  # fmt: skip
