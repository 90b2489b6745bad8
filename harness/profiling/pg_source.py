"""pg_stat_statements of a PostgreSQL given by `--profile-dsn`, over a run's window.

`check_profile_dsn` runs before anything starts (the CLI turns its ConfigError into exit 2
and one line): the server answers, the extension is created in that database and loaded
(`shared_preload_libraries`), and this user may reset it. `PgStatStatements.start` resets
the statistics of that database only (other databases' entries stay) as the window opens;
`finish` reads them as it closes.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from harness.errors import ConfigError
from harness.profiling.service_source import TOP_STATEMENTS
from harness.redaction import redact_url
from harness.rundir.profile import ProfileSource, StatementStat

FLAG = "--profile-dsn"
CONNECT_TIMEOUT_S = 5
_RESET = (
    "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
    "WHERE datname = current_database()), 0)"
)
_READ = (
    "SELECT query, calls, total_exec_time, rows FROM pg_stat_statements "
    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND query NOT LIKE '%%pg_stat_statements%%' ORDER BY total_exec_time DESC"
)


def connect(dsn: str) -> psycopg.Connection[Any]:
    """An autocommit connection to `dsn`; ConfigError naming the flag when it fails."""
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise ConfigError("expected a postgresql:// URL", FLAG)
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"cannot connect to {redact_url(dsn)}: {reason}", FLAG) from None


def check_profile_dsn(dsn: str) -> None:
    """ConfigError (one line, naming `--profile-dsn`) unless `dsn` can be profiled."""
    with connect(dsn) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ).fetchone()
        if found is None:
            raise ConfigError(
                "the extension pg_stat_statements is not created in that database "
                "(CREATE EXTENSION pg_stat_statements; it must also be in "
                "shared_preload_libraries)",
                FLAG,
            )
        try:
            conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1").fetchall()
        except psycopg.Error:
            raise ConfigError(
                "pg_stat_statements is not loaded: add it to shared_preload_libraries "
                "in postgresql.conf and restart the server",
                FLAG,
            ) from None
        allowed = conn.execute(
            "SELECT has_function_privilege('pg_stat_statements_reset(oid, oid, bigint)', 'EXECUTE')"
        ).fetchone()
        if not allowed or not allowed[0]:
            raise ConfigError(
                "this user may not reset pg_stat_statements "
                "(GRANT EXECUTE ON FUNCTION pg_stat_statements_reset TO it)",
                FLAG,
            )


class PgStatStatements:
    """pg_stat_statements of one database, reset as the window opens, read as it closes."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._started_at = time.monotonic()

    def start(self) -> None:
        """Reset this database's statement statistics."""
        with connect(self.dsn) as conn:
            conn.execute(_RESET).fetchall()
        self._started_at = time.monotonic()

    def finish(self) -> tuple[ProfileSource, list[str]]:
        """The window's statements (costliest first), and their full texts in that order."""
        with connect(self.dsn) as conn:
            rows = conn.execute(_READ).fetchall()
        window_s = time.monotonic() - self._started_at
        total_ms = sum(float(row[2]) for row in rows)
        stats = tuple(
            StatementStat(
                sql=" ".join(str(query).split()),
                calls=int(calls),
                total_ms=float(total),
                rows=int(count),
                share=float(total) / total_ms if total_ms else 0.0,
            )
            for query, calls, total, count in rows[:TOP_STATEMENTS]
        )
        source = ProfileSource(
            source="postgresql",
            database="postgresql",
            window_s=window_s,
            db_time_ms=total_ms,
            statements=stats,
        )
        return source, [str(row[0]) for row in rows]
