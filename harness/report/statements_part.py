"""The statements part of "Where the time goes": top statements, plans, verified indexes.

Reads profile.json through `harness.rundir` (docs/profiling.md). One block per source (the
reference service's own timing, pg_stat_statements of `--profile-dsn`): the top statements
by total time with calls, total, mean, rows and share; the plans of the costliest ones with
the full scans found; and the recommendations that were measured to help, with speedup,
index size and cost per insert. Nothing here talks to a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.report.formatting import fmt_count, fmt_ms, fmt_share
from harness.report.sections import Row, Table
from harness.rundir import ProfileSource, RecordError, read_profile

_SQL_CHARS = 160
_SOURCE_TITLES = {
    "service": "Reference service (its own statement timing, per route)",
    "postgresql": "PostgreSQL (pg_stat_statements of --profile-dsn)",
}


@dataclass(frozen=True)
class PlanView:
    """One plan: the statement, the plan's lines, the full scans found in it."""

    sql: str
    lines: str
    full_scans: str


@dataclass(frozen=True)
class SourceView:
    """One source's tables, preformatted."""

    title: str
    summary: str
    statements: Table
    plans: tuple[PlanView, ...]
    recommendations: Table | None
    note: str | None


@dataclass(frozen=True)
class StatementsView:
    """Every profiled source of the run, or the reason profile.json could not be read."""

    sources: tuple[SourceView, ...]
    error: str | None = None


def short_sql(sql: str, limit: int = _SQL_CHARS) -> str:
    """`sql` on one line, cut to `limit` characters."""
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt_bytes(value: int) -> str:
    for unit, size in (("MB", 1 << 20), ("kB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


def _fmt_us(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f} µs"


def _source_view(source: ProfileSource) -> SourceView:
    with_route = source.source == "service"
    headers = (*(("Route",) if with_route else ()), "Statement", "Calls", "Total",
               "Mean", "Rows", "Share")  # fmt: skip
    first = 1 if with_route else 0
    rows = tuple(
        Row(
            (
                *((s.route,) if with_route else ()),
                short_sql(s.sql),
                fmt_count(s.calls),
                fmt_ms(s.total_ms),
                fmt_ms(s.mean_ms),
                fmt_count(s.rows),
                fmt_share(s.share),
            )
        )
        for s in source.statements
    )
    statements = Table(headers, rows, frozenset(range(first + 1, first + 6)))
    plans = tuple(
        PlanView(short_sql(p.sql), "\n".join(p.lines), ", ".join(p.full_scans) or "none")
        for p in source.plans
    )
    recommendations = None
    if source.plans:
        recommendations = Table(
            (
                "Index",
                "Statement",
                "Before",
                "After",
                "Speedup",
                "Index size",
                "Per insert",
                "Applied",
            ),
            tuple(
                Row(
                    (
                        r.create_index,
                        short_sql(r.sql, 100),
                        fmt_ms(r.before_ms),
                        fmt_ms(r.after_ms),
                        f"{r.speedup:.1f}×",
                        _fmt_bytes(r.index_bytes),
                        _fmt_us(r.write_cost_us),
                        "yes" if r.applied else "no",
                    ),
                    ok=True,
                )
                for r in source.recommendations
            ),
            frozenset({2, 3, 4, 5, 6}),
        )
    summary = (
        f"{fmt_ms(source.db_time_ms)} of database time in {source.window_s:.0f} s "
        f"({source.database}); top {len(source.statements)} statements by total time."
    )
    return SourceView(
        title=_SOURCE_TITLES.get(source.source, source.source),
        summary=summary,
        statements=statements,
        plans=plans,
        recommendations=recommendations,
        note=source.note,
    )


def build_statements(run_dir: Path) -> StatementsView | None:
    """The statements part for `run_dir`, or None when the run has no profile.json."""
    try:
        profile = read_profile(run_dir)
    except (RecordError, ValueError) as exc:
        return StatementsView((), error=f"profile.json could not be read: {exc}")
    if profile is None:
        return None
    return StatementsView(tuple(_source_view(source) for source in profile.sources))
