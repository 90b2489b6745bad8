"""Plans and measured index advice for SQLite statements, on a copy of the database file.

The copy is made with SQLite's online backup API (consistent while the service writes) in a
temporary directory, and dropped afterwards; the live file is only read, unless `apply` is
given, and then only the measured winners are created in it. For each costly statement:
`EXPLAIN QUERY PLAN` with the parameters of its slowest call; a `SCAN <table>` (no index)
or a temporary B-tree for ORDER BY on a filtered or sorted column is a full scan; each
candidate index is created on the copy and the statement timed before and after (medians),
with the index's size (pages it added) and what it adds to one insert into its table.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.profiling.measure import MIN_SPEEDUP, median_ms
from harness.profiling.sqlshape import candidate_indexes, column_use, index_name, not_covered
from harness.rundir.profile import Plan, Recommendation

TOP_STATEMENTS = 5
INSERT_ROWS = 200
_SCAN = re.compile(r"^SCAN (?:TABLE )?(\w+)(?: AS \w+)?$")
_SORTED = re.compile(r"USE TEMP B-TREE FOR (?:RIGHT PART OF )?ORDER BY")
_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?(\w+)\"?", re.I)


@dataclass(frozen=True)
class SampledStatement:
    """A statement to explain: its normalized text, and one executable form with values."""

    sql: str
    sample_sql: str
    sample_params: tuple[Any, ...]


@dataclass(frozen=True)
class Advice:
    """Plans of the costliest statements and the recommendations that measurably helped."""

    plans: tuple[Plan, ...]
    recommendations: tuple[Recommendation, ...]
    note: str | None = None


def advise_sqlite(
    db_path: Path, statements: Sequence[SampledStatement], *, apply: bool = False
) -> Advice:
    """Explain the first `TOP_STATEMENTS` reads of `statements` (costliest first) on a backup
    copy of `db_path`, and measure an index for each full scan."""
    reads = [s for s in statements if s.sample_sql.lstrip().upper().startswith("SELECT")]
    reads = reads[:TOP_STATEMENTS]
    plans: list[Plan] = []
    recommendations: list[Recommendation] = []
    with tempfile.TemporaryDirectory(prefix="harness-profile-") as scratch_dir:
        scratch = Path(scratch_dir) / "scratch.db"
        _backup(db_path, scratch)
        with closing(sqlite3.connect(scratch, isolation_level=None)) as conn:
            for statement in reads:
                plan, best = _advise_one(conn, statement)
                plans.append(plan)
                if best is not None:
                    recommendations.append(best)
    if apply and recommendations:
        recommendations = _apply(db_path, recommendations)
    return Advice(tuple(plans), tuple(recommendations))


def _backup(source: Path, target: Path) -> None:
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.execute("PRAGMA busy_timeout = 5000")
        src.backup(dst)


def _advise_one(
    conn: sqlite3.Connection, statement: SampledStatement
) -> tuple[Plan, Recommendation | None]:
    sql, params = statement.sample_sql, statement.sample_params
    lines = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    sorted_scan = any(_SORTED.search(line) for line in lines)
    scans: list[str] = []
    candidates: list[tuple[str, tuple[str, ...]]] = []
    tables = dict.fromkeys(_TABLE.findall(sql))
    for line in lines:
        found = _SCAN.match(line.strip())
        if found is None and not sorted_scan:
            continue
        for table in [found.group(1)] if found else tables:
            columns, indexed_first = _table_columns(conn, table)
            if not columns:
                continue
            use = column_use(sql, columns)
            if not use.filtered and not use.order_by:
                continue
            proposed = candidate_indexes(use, indexed_first, sorted_scan)
            for cols in not_covered(proposed, _index_columns(conn, table)):
                scans.append(f"{table}({', '.join(cols)})")
                candidates.append((table, cols))
    plan = Plan(statement.sql, tuple(lines), tuple(dict.fromkeys(scans)))
    best: Recommendation | None = None
    for table, cols in dict.fromkeys(candidates):
        measured = _measure(conn, statement, table, cols)
        if measured is None:
            continue
        if measured.speedup > MIN_SPEEDUP and (best is None or measured.speedup > best.speedup):
            best = measured
    return plan, best


def _table_columns(conn: sqlite3.Connection, table: str) -> tuple[list[str], set[str]]:
    """The table's columns, and those that lead an index (the INTEGER PRIMARY KEY counts)."""
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    columns = [row[1] for row in info]
    indexed = {row[1] for row in info if row[5] == 1 and str(row[2]).upper() == "INTEGER"}
    for index in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
        first = conn.execute(f'PRAGMA index_info("{index[1]}")').fetchone()
        if first is not None and first[2] is not None:
            indexed.add(first[2])
    return columns, indexed


def _index_columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, ...]]:
    """The column lists of the table's indexes, in index order."""
    out = []
    for index in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
        info = conn.execute(f'PRAGMA index_info("{index[1]}")').fetchall()
        out.append(tuple(str(row[2]) for row in sorted(info)))
    return out


def _measure(
    conn: sqlite3.Connection, statement: SampledStatement, table: str, cols: tuple[str, ...]
) -> Recommendation | None:
    """The statement timed before and after the index on the copy; None when the planner
    does not use the index (a speedup then would be timing noise)."""

    def run() -> None:
        conn.execute(statement.sample_sql, statement.sample_params).fetchall()

    name = index_name(table, cols)
    create = f'CREATE INDEX "{name}" ON "{table}" ({", ".join(cols)})'
    before_ms = median_ms(run)
    insert_before_us = _insert_cost_us(conn, table)
    pages_before = _used_pages(conn)
    conn.execute(create)
    conn.execute(f'ANALYZE "{name}"')
    try:
        explained = conn.execute(
            f"EXPLAIN QUERY PLAN {statement.sample_sql}", statement.sample_params
        ).fetchall()
        if not any(f"INDEX {name}" in str(row[-1]) for row in explained):
            return None
        index_bytes = (_used_pages(conn) - pages_before) * (
            conn.execute("PRAGMA page_size").fetchone()[0]
        )
        after_ms = median_ms(run)
        insert_after_us = _insert_cost_us(conn, table)
    finally:
        conn.execute(f'DROP INDEX "{name}"')
    return Recommendation(
        sql=statement.sql,
        create_index=create,
        before_ms=before_ms,
        after_ms=after_ms,
        index_bytes=max(0, index_bytes),
        insert_before_us=insert_before_us,
        insert_after_us=insert_after_us,
    )


def _used_pages(conn: sqlite3.Connection) -> int:
    """Pages in use: the file's pages less the free ones (a dropped index leaves some)."""
    total = conn.execute("PRAGMA page_count").fetchone()[0]
    return int(total) - int(conn.execute("PRAGMA freelist_count").fetchone()[0])


def _insert_cost_us(conn: sqlite3.Connection, table: str) -> float | None:
    """Mean time of one insert into `table`, the median of 3 rounds after a warm-up one;
    None when the table has no row to copy or refuses the copies."""
    rounds = [_insert_round_us(conn, table) for _ in range(4)][1:]
    found = [r for r in rounds if r is not None]
    return statistics.median(found) if len(found) == len(rounds) else None


def _insert_round_us(conn: sqlite3.Connection, table: str, rows: int = INSERT_ROWS) -> float | None:
    """Mean time of one insert into `table` (copies of its first row, rolled back)."""
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    keep = [r[1] for r in info if not (r[5] == 1 and str(r[2]).upper() == "INTEGER")]
    unique = _unique_text_columns(conn, table)
    sample = conn.execute(f'SELECT {", ".join(keep)} FROM "{table}" LIMIT 1').fetchone()
    if sample is None:
        return None
    marks = ", ".join("?" for _ in keep)
    insert = f'INSERT INTO "{table}" ({", ".join(keep)}) VALUES ({marks})'
    conn.execute("BEGIN")
    try:
        started = time.perf_counter()
        for i in range(rows):
            values = [
                f"{v}~{i}" if name in unique and isinstance(v, str) else v
                for name, v in zip(keep, sample, strict=True)
            ]
            conn.execute(insert, values)
        return (time.perf_counter() - started) * 1e6 / rows
    except sqlite3.IntegrityError:
        return None
    finally:
        conn.execute("ROLLBACK")


def _unique_text_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    out: set[str] = set()
    for index in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
        if index[2]:
            out.update(r[2] for r in conn.execute(f'PRAGMA index_info("{index[1]}")'))
    return out


def _apply(db_path: Path, recommendations: list[Recommendation]) -> list[Recommendation]:
    """Create each recommended index in the live file (`--apply-indexes`)."""
    applied = []
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute("PRAGMA busy_timeout = 30000")
        for rec in recommendations:
            conn.execute(rec.create_index.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS"))
            applied.append(Recommendation(**{**rec.__dict__, "applied": True}))
    return applied
