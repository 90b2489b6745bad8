"""Profiling a run's database work: started as the measured window opens, finished before
the service stops, written to profile.json (docs/profiling.md).

Sources: the reference service's own statement timings when the run has its tokens, and
the PostgreSQL of `--profile-dsn` through pg_stat_statements. For the embedded service's
SQLite file and for the DSN, the costliest statements are explained and indexes that help
are measured on a scratch copy. A profiling failure never fails the run: it is a warning
event, and the sources that worked are still written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psycopg

from harness.errors import HarnessError
from harness.profiling.pg_advisor import advise_postgresql
from harness.profiling.pg_source import PgStatStatements, connect
from harness.profiling.service_source import ServiceStatements, TimedStatement
from harness.profiling.sqlite_advisor import SampledStatement, advise_sqlite
from harness.rundir.profile import Profile, ProfileSource, write_profile

Warn = Callable[[str], None]


class RunProfiler:
    """The profiling of one run: `start` as the window opens, `finish` as it closes."""

    def __init__(
        self,
        run_dir: Path,
        warn: Warn,
        *,
        profile_dsn: str | None = None,
        apply_indexes: bool = False,
    ) -> None:
        self.run_dir = run_dir
        self.warn = warn
        self.profile_dsn = profile_dsn
        self.apply_indexes = apply_indexes
        self.service: ServiceStatements | None = None
        self.sqlite_path: Path | None = None
        self.pg: PgStatStatements | None = None
        self.started = False

    def watch_service(self, url: str, token: str, sqlite_path: Path | None) -> None:
        """Profile the reference service at `url` (its SQLite file, when known, is advised on)."""
        self.service = ServiceStatements(url, token)
        self.sqlite_path = sqlite_path

    def start(self) -> None:
        """Read every source's counters (reset pg_stat_statements) as the window opens."""
        self.started = True
        if self.service is not None:
            try:
                self.service.start()
            except (OSError, ValueError) as exc:
                self.warn(f"statement timings not read: {exc}")
                self.service = None
        self._start_postgresql()

    def finish(self, token: str | None = None) -> Path | None:
        """Read every source at the window's end, advise, write profile.json; its path."""
        if not self.started:
            return None
        sources: list[ProfileSource] = []
        if self.service is not None:
            try:
                source, statements = self.service.finish(token)
            except (OSError, ValueError) as exc:
                self.warn(f"statement timings not read: {exc}")
            else:
                sources.append(self._advise_service(source, statements))
        sources.extend(self._finish_postgresql())
        if not sources:
            return None
        return write_profile(self.run_dir, Profile(sources=tuple(sources)))

    def _advise_service(
        self, source: ProfileSource, statements: list[TimedStatement]
    ) -> ProfileSource:
        """Plans and measured indexes for the embedded service's SQLite file."""
        if self.sqlite_path is None:
            return replace(source, note="plans need the database: the service is not ours")
        samples = [SampledStatement(s.sql, s.sample_sql, s.sample_params) for s in statements]
        try:
            advice = advise_sqlite(self.sqlite_path, samples, apply=self.apply_indexes)
        except (sqlite3.Error, OSError) as exc:
            self.warn(f"statement plans not made: {exc}")
            return replace(source, note=f"plans not made: {exc}")
        return replace(source, plans=advice.plans, recommendations=advice.recommendations)

    def _start_postgresql(self) -> None:
        if self.profile_dsn is None:
            return
        self.pg = PgStatStatements(self.profile_dsn)
        try:
            self.pg.start()
        except (HarnessError, psycopg.Error) as exc:
            self.warn(f"pg_stat_statements not reset: {exc}")
            self.pg = None

    def _finish_postgresql(self) -> list[ProfileSource]:
        if self.pg is None:
            return []
        try:
            source, queries = self.pg.finish()
        except (HarnessError, psycopg.Error) as exc:
            self.warn(f"pg_stat_statements not read: {exc}")
            return []
        try:
            with connect(self.pg.dsn) as conn:
                advice = advise_postgresql(conn, queries, apply=self.apply_indexes)
        except (HarnessError, psycopg.Error) as exc:
            message = " ".join(str(exc).split())
            self.warn(f"PostgreSQL plans not made: {message}")
            return [replace(source, note=f"plans not made: {message}")]
        return [replace(source, plans=advice.plans, recommendations=advice.recommendations)]
