"""The real cluster: etcd, two Patroni members, HAProxy (one per session, see conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.errors import RunFailed
from harness.topology.processes import MARKER_ENV, marked_processes


def _query(dsn: str, statement: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(statement.encode())
        return cursor.fetchone() if cursor.description else None


@pytest.mark.e2e
def test_cluster_streams_with_checksums_and_fails_over_when_the_leader_is_lost(
    pg_cluster: Any,
) -> None:
    cluster = pg_cluster
    cluster.wait_streaming(120.0)  # the session's cluster: other tests may have restarted members
    leader = cluster.leader()
    assert leader is not None and cluster.replicas() == [n for n in cluster.members if n != leader]
    assert _query(cluster.dsn, "show data_checksums") == ("on",)
    _query(cluster.dsn, "create table if not exists t (id int primary key)")
    _query(cluster.dsn, "insert into t values (1)")
    cluster.wait_replicated(30.0)  # asynchronous: only a replayed write survives the loss

    cluster.lose_member(leader)
    new_leader, elapsed_s = cluster.wait_leader(60.0, exclude=leader)

    assert new_leader != leader and elapsed_s > 0
    assert _query(cluster.dsn, "select pg_is_in_recovery()") == (False,)
    _query(cluster.dsn, "insert into t values (2)")  # writable through HAProxy again
    assert _query(cluster.dsn, "select count(*) from t where id = 1") == (1,)

    cluster.restart_member(leader)
    cluster.wait_streaming(120.0)  # the old leader rejoined as a replica
    assert cluster.replicas() == [leader]


@pytest.mark.e2e
@pytest.mark.usefixtures("postgres_cluster_binaries")
def test_a_cluster_that_elects_no_leader_in_time_fails_in_one_line_and_stops(
    tmp_path: Path,
) -> None:
    from harness.topology.postgres.cluster import PgCluster
    from harness.topology.postgres.config import PgClusterConfig

    cluster = PgCluster(PgClusterConfig(tmp_path, ready_timeout_s=0.5))
    with pytest.raises(RunFailed, match=r"no PostgreSQL leader elected within 0\.5s"):
        cluster.start()
    assert marked_processes(cluster.env[MARKER_ENV]) == []


def test_missing_binaries_are_bad_input_before_anything_starts(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no etcd, patroni or haproxy on it
    done = subprocess.run([sys.executable, "-m", "harness", "up", "--database", "postgresql",
                           "--data-dir", str(tmp_path / "d")], capture_output=True, text=True,
                          env=env, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "missing etcd, patroni" in done.stderr
    assert not (tmp_path / "d" / "deployment.json").exists()
