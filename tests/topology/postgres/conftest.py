"""The PostgreSQL cluster for tests: ONE per session (it takes ~10 s to start). Its tests
skip only where the binaries are absent, never in CI (`postgres_cluster_binaries`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from harness.topology.postgres.config import PgClusterConfig
from harness.topology.processes import MARKER_ENV, marked_processes


@pytest.fixture(scope="session")
def pg_cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_cluster_binaries: None
) -> Iterator[object]:
    """A started two-node cluster (async replication); stopped, and checked to have left
    nothing running, at the end of the session."""
    from harness.topology.postgres.cluster import PgCluster

    cluster = PgCluster(PgClusterConfig(tmp_path_factory.mktemp("pg")))
    marker = cluster.env[MARKER_ENV]
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        left = marked_processes(marker)
        if cluster.directory.name.startswith("harness-postgres-"):
            shutil.rmtree(cluster.directory, ignore_errors=True)
    assert left == [], f"processes left running after stop: {left}"
