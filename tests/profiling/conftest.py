"""A PostgreSQL with pg_stat_statements loaded, for the profiling tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.service.storage.pgserver import PostgresServer, find_pg_bin


@pytest.fixture(scope="session")
def profiled_postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15 started with shared_preload_libraries=pg_stat_statements
    (Debian's postgresql-15 ships the extension; .ci/run installs it)."""
    bin_dir, reason = find_pg_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(reason)
    with PostgresServer(bin_dir, fsync=False, preload_libraries=("pg_stat_statements",)) as pg:
        yield pg
