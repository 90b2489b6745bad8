"""The real cluster: etcd, two Patroni members, HAProxy (one per session, see conftest)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

pytestmark = pytest.mark.e2e


def _query(dsn: str, statement: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(statement.encode())
        return cursor.fetchone() if cursor.description else None


def test_cluster_streams_with_checksums_and_fails_over_when_the_leader_is_lost(
    pg_cluster: Any,
) -> None:
    cluster = pg_cluster
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
    cluster.wait_streaming(60.0)  # the old leader rejoined as a replica
    assert cluster.replicas() == [leader]
