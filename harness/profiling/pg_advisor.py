"""Plans and measured index advice for PostgreSQL statements, on a scratch copy.

The tables a statement reads are copied (`CREATE TABLE ... AS SELECT`, their indexes
re-created, unique ones as plain indexes so copies of rows can be inserted) into a scratch
schema of the same database, which is dropped at the end, so the live tables are only read.
Statement texts come from pg_stat_statements with `$n` in place of values: each `$n` gets
a value of the column it is compared with (the column's median value: a typical, not a
lucky, selectivity), 20 for LIMIT, 0 for OFFSET, NULL otherwise. Plans are
`EXPLAIN (ANALYZE, BUFFERS)` on the copy in a transaction rolled back.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql as pgsql

from harness.profiling.measure import MIN_SPEEDUP, median_ms
from harness.profiling.sqlite_advisor import TOP_STATEMENTS, Advice
from harness.profiling.sqlshape import candidate_indexes, column_use, index_name, not_covered
from harness.rundir.profile import Plan, Recommendation

INSERT_ROWS = 1000
MAX_COPY_ROWS = 5_000_000
_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+((?:\"?\w+\"?\.)?\"?\w+\"?)", re.I)
_PARAM = re.compile(r"\$(\d+)")
_SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")
_INDEX_SCAN = re.compile(r"Index (?:Only )?Scan(?: Backward)? using \w+ on (\w+)")
_BEFORE_PARAM = re.compile(
    r"\"?(\w+)\"?\s*(=\s*ANY\s*\(|=|!=|<>|<=|>=|<|>|\bI?LIKE\b|\bLIMIT\b|\bOFFSET\b)\s*$", re.I
)


def advise_postgresql(
    conn: psycopg.Connection[Any], queries: Sequence[str], *, apply: bool = False
) -> Advice:
    """Explain the first `TOP_STATEMENTS` reads of `queries` (costliest first) on a scratch
    copy of their tables, and measure an index for each full scan. `conn` is autocommit."""
    reads = [q for q in queries if q.lstrip().upper().startswith(("SELECT", "WITH"))]
    scratch = f"harness_scratch_{os.getpid()}"
    plans: list[Plan] = []
    recommendations: list[Recommendation] = []
    try:
        conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(scratch)))
        copied: dict[str, str] = {}
        for query in reads[:TOP_STATEMENTS]:
            tables = [_copy_table(conn, name, scratch, copied) for name in _TABLE.findall(query)]
            if None in tables or not tables:
                continue
            local = _localize(query, copied)
            plan, best = _advise_one(conn, query, local, scratch, [t for t in tables if t])
            plans.append(plan)
            if best is not None:
                recommendations.append(best)
    finally:
        conn.execute(
            pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(scratch))
        )
    if apply:
        recommendations = [_apply(conn, rec, copied) for rec in recommendations]
    return Advice(tuple(plans), tuple(recommendations))


def _copy_table(
    conn: psycopg.Connection[Any], name: str, scratch: str, copied: dict[str, str]
) -> str | None:
    """Copy table `name` (as written in the query) into `scratch`; its bare name, or None
    when it is not a plain table of a reasonable size."""
    if name in copied:
        return copied[name].split(".")[1]
    found = conn.execute(
        "SELECT n.nspname, c.relname, c.reltuples FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass(%s) AND c.relkind = 'r'",
        (name,),
    ).fetchone()
    if found is None or found[2] > MAX_COPY_ROWS:
        return None
    schema, table = str(found[0]), str(found[1])
    source = pgsql.Identifier(schema, table)
    target = pgsql.Identifier(scratch, table)
    conn.execute(pgsql.SQL("CREATE TABLE {} AS SELECT * FROM {}").format(target, source))
    indexes = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
        (schema, table),
    ).fetchall()
    for (definition,) in indexes:
        own = re.sub(r"^CREATE UNIQUE INDEX", "CREATE INDEX", str(definition))
        own = own.replace(f" ON {_qualified(schema, table)} ", f" ON {_qualified(scratch, table)} ")
        conn.execute(own.encode())
    conn.execute(pgsql.SQL("ANALYZE {}").format(target))
    copied[name] = f"{scratch}.{table}"
    return table


def _qualified(schema: str, table: str) -> str:
    """How pg_indexes writes `schema.table` (quoted only when needed)."""
    out = []
    for part in (schema, table):
        plain = re.fullmatch(r"[a-z_][a-z0-9_$]*", part) is not None
        out.append(part if plain else '"' + part.replace('"', '""') + '"')
    return ".".join(out)


def _localize(query: str, copied: dict[str, str]) -> str:
    """`query` reading the scratch copies instead of the live tables."""

    def swap(match: re.Match[str]) -> str:
        written = match.group(1)
        target = copied.get(written)
        return match.group(0) if target is None else match.group(0).replace(written, target)

    return _TABLE.sub(swap, query)


def _bind(
    conn: psycopg.Connection[Any], query: str, tables: list[str], scratch: str
) -> tuple[str, dict[str, Any]]:
    """`query` with `$n` as psycopg named placeholders, and a value for each."""
    values: dict[str, Any] = {}
    for match in _PARAM.finditer(query):
        key = f"p{match.group(1)}"
        if key in values:
            continue
        before = _BEFORE_PARAM.search(query[: match.start()])
        values[key] = _value_for(conn, before, tables, scratch)
    text = query.replace("%", "%%")
    return _PARAM.sub(lambda m: f"%(p{m.group(1)})s", text), values


def _value_for(
    conn: psycopg.Connection[Any], before: re.Match[str] | None, tables: list[str], scratch: str
) -> Any:
    if before is None:
        return None
    word, op = before.group(1), " ".join(before.group(2).upper().split())
    if word.upper() == "LIMIT" or op == "LIMIT":
        return 20
    if word.upper() == "OFFSET" or op == "OFFSET":
        return 0
    for table in tables:
        target = pgsql.Identifier(scratch, table)
        column = pgsql.Identifier(word)
        try:
            row = conn.execute(
                pgsql.SQL(
                    "SELECT {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY {c} "
                    "OFFSET (SELECT count(*) / 2 FROM {t}) LIMIT 1"
                ).format(c=column, t=target)
            ).fetchone()
        except psycopg.errors.UndefinedColumn:
            continue
        if row is not None:
            return [row[0]] if op.startswith("= ANY") else row[0]
    return None


def _advise_one(
    conn: psycopg.Connection[Any], query: str, local: str, scratch: str, tables: list[str]
) -> tuple[Plan, Recommendation | None]:
    text, values = _bind(conn, local, tables, scratch)
    with conn.transaction(force_rollback=True):
        lines = [str(r[0]) for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", values)]
    sorted_scan = any(line.strip().startswith(("Sort ", "->  Sort ")) for line in lines)
    seq_tables = _scanned_tables(lines)
    normalized = " ".join(query.split())
    scans: list[str] = []
    candidates: list[tuple[str, tuple[str, ...]]] = []
    for table in dict.fromkeys(seq_tables + (tables if sorted_scan else [])):
        columns, indexed_first = _table_columns(conn, scratch, table)
        use = column_use(query, columns)
        existing = _index_columns(conn, scratch, table)
        for cols in not_covered(candidate_indexes(use, indexed_first, sorted_scan), existing):
            scans.append(f"{table}({', '.join(cols)})")
            candidates.append((table, cols))
    plan = Plan(normalized, tuple(lines), tuple(dict.fromkeys(scans)))
    best: Recommendation | None = None
    for table, cols in dict.fromkeys(candidates):
        measured = _measure(conn, normalized, text, values, scratch, table, cols)
        if measured is None:
            continue
        if measured.speedup > MIN_SPEEDUP and (best is None or measured.speedup > best.speedup):
            best = measured
    return plan, best


def _scanned_tables(lines: Sequence[str]) -> list[str]:
    """Tables read by a Seq Scan, or by an index scan that then filters rows (the index
    serves the order, say, but not the filter: it walks the whole index)."""
    found: list[str] = []
    last_index_scan: str | None = None
    for line in lines:
        if seq := _SEQ_SCAN.search(line):
            found.append(seq.group(1))
            last_index_scan = None
        elif index := _INDEX_SCAN.search(line):
            last_index_scan = index.group(1)
        elif last_index_scan is not None and line.strip().startswith("Filter:"):
            found.append(last_index_scan)
            last_index_scan = None
        elif "->" in line:
            last_index_scan = None
    return found


def _table_columns(
    conn: psycopg.Connection[Any], scratch: str, table: str
) -> tuple[list[str], set[str]]:
    rel = f"{_qualified(scratch, table)}"
    columns = [
        str(r[0])
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attnum > 0 AND NOT attisdropped",
            (rel,),
        )
    ]
    indexed = {
        str(r[0])
        for r in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
            "WHERE i.indrelid = to_regclass(%s)",
            (rel,),
        )
    }
    return columns, indexed


def _index_columns(
    conn: psycopg.Connection[Any], scratch: str, table: str
) -> list[tuple[str, ...]]:
    """The column lists of the table's indexes, in index order."""
    rows = conn.execute(
        "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = to_regclass(%s) GROUP BY i.indexrelid",
        (_qualified(scratch, table),),
    ).fetchall()
    return [tuple(str(c) for c in row[0]) for row in rows]


def _measure(
    conn: psycopg.Connection[Any],
    normalized: str,
    text: str,
    values: dict[str, Any],
    scratch: str,
    table: str,
    cols: tuple[str, ...],
) -> Recommendation | None:
    """The statement timed before and after the index on the scratch copy; None when the
    planner does not use the index (a speedup then would be timing noise)."""

    def run() -> None:
        conn.execute(text, values).fetchall()

    name = index_name(table, cols)
    column_list = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in cols)
    target = pgsql.Identifier(scratch, table)
    before_ms = median_ms(run)
    insert_before_us = _insert_cost_us(conn, target)
    conn.execute(
        pgsql.SQL("CREATE INDEX {} ON {} ({})").format(pgsql.Identifier(name), target, column_list)
    )
    conn.execute(pgsql.SQL("ANALYZE {}").format(target))
    try:
        plan = [str(r[0]) for r in conn.execute(f"EXPLAIN {text}", values)]
        if not any(name in line for line in plan):
            return None
        size = conn.execute(
            "SELECT pg_relation_size(to_regclass(%s))", (_qualified(scratch, name),)
        ).fetchone()
        after_ms = median_ms(run)
        insert_after_us = _insert_cost_us(conn, target)
    finally:
        conn.execute(pgsql.SQL("DROP INDEX {}").format(pgsql.Identifier(scratch, name)))
    return Recommendation(
        sql=normalized,
        create_index=f"CREATE INDEX {name} ON {table} ({', '.join(cols)})",
        before_ms=before_ms,
        after_ms=after_ms,
        index_bytes=int(size[0]) if size and size[0] is not None else 0,
        insert_before_us=insert_before_us,
        insert_after_us=insert_after_us,
    )


def _insert_cost_us(conn: psycopg.Connection[Any], target: pgsql.Identifier) -> float | None:
    """Mean time of one row of `INSERT ... SELECT` of copies of the table's rows, in a
    transaction rolled back: the median of 3 rounds after a warm-up one."""
    rounds: list[float] = []
    for _ in range(4):
        with conn.transaction(force_rollback=True):
            started = time.perf_counter()
            cursor = conn.execute(
                pgsql.SQL("INSERT INTO {t} SELECT * FROM {t} LIMIT %s").format(t=target),
                (INSERT_ROWS,),
            )
            elapsed = time.perf_counter() - started
        if cursor.rowcount <= 0:
            return None
        rounds.append(elapsed * 1e6 / cursor.rowcount)
    rounds = sorted(rounds[1:])
    return rounds[1]


def _apply(
    conn: psycopg.Connection[Any], rec: Recommendation, copied: dict[str, str]
) -> Recommendation:
    """Create `rec`'s index in the live table (`--apply-indexes`), without blocking writes."""
    live = {v.split(".")[1]: k for k, v in copied.items()}
    table = rec.create_index.split(" ON ", 1)[1].split(" (", 1)[0]
    columns = rec.create_index.split(" (", 1)[1]
    name = rec.create_index.split()[2]
    conn.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {live.get(table, table)} ({columns}"
    )
    return Recommendation(**{**rec.__dict__, "applied": True})
