"""The reference service's own statement timings over a run's measured window.

GET /admin/statements (permission metrics:read) answers counters that grow for the
service's life; `ServiceStatements` reads them when the window starts and when it ends and
keeps the difference, so statements of the set-up (seeding, token issue, the window before)
do not count. Each process publishes its table once a second, so either edge of the window
may be up to a second late for the processes that did not answer the request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from harness.admin_api import admin_get_object
from harness.rundir.profile import ProfileSource, StatementStat

STATEMENTS_PATH = "/admin/statements"
TOP_STATEMENTS = 20


@dataclass(frozen=True)
class TimedStatement:
    """One route's statement over the window, with the raw text and parameters of its
    slowest call (what a plan is asked for)."""

    route: str
    sql: str
    calls: int
    total_ns: int
    rows: int
    sample_sql: str
    sample_params: tuple[Any, ...]


def fetch_statement_table(base_url: str, token: str, timeout_s: float = 5.0) -> list[Any]:
    """The service's statement table; OSError or ValueError when it does not answer one."""
    data = admin_get_object(base_url, STATEMENTS_PATH, token, timeout_s)
    if not isinstance(data.get("statements"), list):
        raise ValueError(f"GET {STATEMENTS_PATH} did not answer a statement table")
    if not data.get("enabled", False):
        raise ValueError("the service runs without statement timing")
    return list(data["statements"])


def window_statements(before: list[Any], after: list[Any]) -> list[TimedStatement]:
    """`after` minus `before`, per route and statement; statements not run in between left
    out; the most total time first."""
    seen = {(row["route"], row["sql"]): row for row in before}
    out = []
    for row in after:
        old = seen.get((row["route"], row["sql"]), {})
        calls = int(row["calls"]) - int(old.get("calls", 0))
        if calls <= 0:
            continue
        out.append(
            TimedStatement(
                route=str(row["route"]),
                sql=str(row["sql"]),
                calls=calls,
                total_ns=max(0, int(row["total_ns"]) - int(old.get("total_ns", 0))),
                rows=max(0, int(row["rows"]) - int(old.get("rows", 0))),
                sample_sql=str(row["sample_sql"]),
                sample_params=tuple(row.get("sample_params") or ()),
            )
        )
    return sorted(out, key=lambda s: -s.total_ns)


def statement_stats(
    statements: list[TimedStatement], top: int = TOP_STATEMENTS
) -> tuple[float, tuple[StatementStat, ...]]:
    """(database time of all statements in ms, the `top` costliest as StatementStat)."""
    total_ns = sum(s.total_ns for s in statements)
    stats = tuple(
        StatementStat(
            sql=s.sql,
            route=s.route,
            calls=s.calls,
            total_ms=s.total_ns / 1e6,
            rows=s.rows,
            share=s.total_ns / total_ns if total_ns else 0.0,
        )
        for s in statements[:top]
    )
    return total_ns / 1e6, stats


class ServiceStatements:
    """Reads the service's table at the window's start (`start`) and end (`finish`)."""

    def __init__(self, base_url: str, token: str, database: str = "sqlite") -> None:
        self.base_url = base_url
        self.token = token
        self.database = database
        self._before: list[Any] = []
        self._started_at = time.monotonic()

    def start(self) -> None:
        """Note the counters as the measured window opens."""
        self._before = fetch_statement_table(self.base_url, self.token)
        self._started_at = time.monotonic()

    def finish(self, token: str | None = None) -> tuple[ProfileSource, list[TimedStatement]]:
        """The window's statements (and their samples, for the advisor)."""
        after = fetch_statement_table(self.base_url, token or self.token)
        window_s = time.monotonic() - self._started_at
        statements = window_statements(self._before, after)
        db_time_ms, stats = statement_stats(statements)
        source = ProfileSource(
            source="service",
            database=self.database,
            window_s=window_s,
            db_time_ms=db_time_ms,
            statements=stats,
        )
        return source, statements
