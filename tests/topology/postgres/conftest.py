"""The PostgreSQL cluster for tests: ONE per session (it takes ~10 s to start), and the
rule for when its tests may skip: only where the binaries are absent, never in CI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from harness.topology.postgres.config import DEFAULT_BIN_DIR, PgClusterConfig
from harness.topology.postgres.host import missing_binaries
from harness.topology.processes import MARKER_ENV, marked_processes


def require_postgres() -> None:
    """Skip (saying why) when Patroni, etcd, HAProxy or PostgreSQL 15 is not installed here;
    in CI (`CI` set) that is a failure instead: the CI image must have them."""
    missing = missing_binaries(DEFAULT_BIN_DIR)
    if not missing:
        return
    reason = f"PostgreSQL cluster binaries absent: {', '.join(missing)} (see .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must install them")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A started two-node cluster (async replication); stopped, and checked to have left
    nothing running, at the end of the session."""
    require_postgres()
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
