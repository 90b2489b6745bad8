"""Statement timing: the reference service times every SQL statement it runs.

Per route (`METHOD /uri/template`, set by `StatementRouteMiddleware`) and normalized
statement, each process counts calls, total and slowest time (execute plus fetch, in
nanoseconds) and rows fetched. The queries already bind every value as a parameter, so the
SQL text is the statement's shape; `normalize_sql` also turns the few literals and the
variable-length `IN (?, ?, ...)` lists into one form, so one shape is one entry.

Each entry keeps the raw text and parameters of its slowest call (scalars only, strings
cut to 200 characters), so a plan can be asked for with values the workload really used.

Like `metrics`, each process publishes its table to `<directory>/<pid>.json` once a second
(from a daemon thread, so the request path never looks at the clock); `statement_totals`
sums every process's file. The counters grow for the service's
life: a reader wanting one window subtracts the table read at its start (`harness run`
does, see docs/profiling.md).
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import falcon

from harness.service.storage.backend import Connection, Database

T = TypeVar("T")
FLUSH_INTERVAL_S = 1.0
NO_ROUTE = "-"
"""The route of statements run outside a request (schema checks, readiness)."""
_SAMPLE_TEXT_CHARS = 200
_route: contextvars.ContextVar[str] = contextvars.ContextVar("statement_route", default=NO_ROUTE)

_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NUMBER_LITERAL = re.compile(r"(?<![\w$?])-?\d+(?:\.\d+)?(?![\w])")
_PARAM_LIST = re.compile(r"\?(?:\s*,\s*\?)+")
_SPACES = re.compile(r"\s+")


def normalize_sql(sql: str) -> str:
    """`sql` with literals as `?`, `IN` lists as one `?, ...`, and single spaces."""
    text = _STRING_LITERAL.sub("?", sql)
    text = _NUMBER_LITERAL.sub("?", text)
    text = _PARAM_LIST.sub("?, ...", text)
    return _SPACES.sub(" ", text).strip()


def _sample(params: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for value in params:
        if isinstance(value, str):
            out.append(value[:_SAMPLE_TEXT_CHARS])
        elif value is None or isinstance(value, bool | int | float):
            out.append(value)
        else:
            out.append(None)  # a list, bytes...: not kept
    return out


class StatementTimer:
    """This process's statement table, published to `directory` for the other processes.

    Each thread counts in a table of its own (no lock on the hot path; a request's
    statements and fetches all run on its thread); `snapshot` merges them.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        # per OS thread: (route, raw sql) -> [calls, total_ns, max_ns, rows, slowest params]
        self._by_thread: dict[int, dict[tuple[str, str], list[Any]]] = {}
        self._flushed_at = 0.0
        self._pid = os.getpid()
        self._flusher_pid = 0

    def thread_table(self) -> dict[tuple[str, str], list[Any]]:
        """This thread's table (created, and the publisher started, on first use).

        Keyed by the OS thread, not a `threading.local`: a server may enter Python from its
        own threads with a new thread state per call, which would start a new table
        each time."""
        table = self._by_thread.get(threading.get_ident())
        if table is None:
            with self._lock:
                table = self._by_thread.setdefault(threading.get_ident(), {})
                if self._flusher_pid != os.getpid():
                    self._start_flusher()
        return table

    def _start_flusher(self) -> None:
        """Publish this process's table every second from a daemon thread (the hot path
        never looks at the clock); started in each process on its first statement."""
        self._flusher_pid = os.getpid()

        def publish() -> None:
            while self._flusher_pid == os.getpid():
                time.sleep(FLUSH_INTERVAL_S)
                self.flush()

        threading.Thread(target=publish, name="statement-timing", daemon=True).start()

    def record(self, sql: str, params: Sequence[Any], elapsed_ns: int) -> list[Any]:
        """Count one execution of `sql` under the current route; its entry (for fetches)."""
        key = (_route.get(), sql)
        table = self.thread_table()
        entry = table.get(key)
        if entry is None:
            entry = table[key] = [0, 0, 0, 0, ()]
        entry[0] += 1
        entry[1] += elapsed_ns
        if elapsed_ns > entry[2]:
            entry[2] = elapsed_ns
            entry[4] = params  # sampled lazily in `snapshot`
        return entry

    @staticmethod
    def fetched(entry: list[Any], elapsed_ns: int, rows: int) -> None:
        """Add a fetch of the statement of `entry` (on the thread that executed it)."""
        entry[1] += elapsed_ns
        entry[3] += rows

    def snapshot(self) -> list[dict[str, Any]]:
        """This process's table, one dict per route and normalized statement."""
        with self._lock:
            tables = [table.copy() for table in self._by_thread.values()]  # copy holds the GIL
        items = [(key, list(value)) for table in tables for key, value in table.items()]
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for (route, raw), (calls, total_ns, max_ns, rows, params) in items:
            key = (route, normalize_sql(raw))
            sample = _sample(params) if isinstance(params, Sequence) else []
            row = merged.get(key)
            if row is None:
                merged[key] = {
                    "route": route, "sql": key[1], "calls": calls, "total_ns": total_ns,
                    "max_ns": max_ns, "rows": rows, "sample_sql": raw, "sample_params": sample,
                }  # fmt: skip
                continue
            row["calls"] += calls
            row["total_ns"] += total_ns
            row["rows"] += rows
            if max_ns > row["max_ns"]:
                row.update(max_ns=max_ns, sample_sql=raw, sample_params=sample)
        return list(merged.values())

    def flush(self) -> None:
        """Publish this process's table for the other processes' readers."""
        if os.getpid() != self._pid:  # a forked copy starts its own table
            self._pid = os.getpid()
            with self._lock:
                self._by_thread = {}
        self._flushed_at = time.monotonic()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temp = self.directory / f".{self._pid}.json.tmp"
            temp.write_text(json.dumps(self.snapshot()))
            os.replace(temp, self.directory / f"{self._pid}.json")
        except OSError:
            pass  # timing is best effort: a full disk must not fail requests

    def totals(self) -> tuple[list[dict[str, Any]], int]:
        """Every process's table summed (this one's published first), and how many."""
        self.flush()
        return statement_totals(self.directory)


def statement_totals(directory: Path) -> tuple[list[dict[str, Any]], int]:
    """The published tables in `directory` summed by route and statement; how many files."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    files = 0
    for path in sorted(directory.glob("*.json")):
        try:
            rows = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        files += 1
        for row in rows:
            key = (row["route"], row["sql"])
            seen = merged.get(key)
            if seen is None:
                merged[key] = dict(row)
                continue
            for name in ("calls", "total_ns", "rows"):
                seen[name] += row[name]
            if row["max_ns"] > seen["max_ns"]:
                seen.update(
                    max_ns=row["max_ns"],
                    sample_sql=row["sample_sql"],
                    sample_params=row["sample_params"],
                )
    return sorted(merged.values(), key=lambda r: -r["total_ns"]), files


class TimedCursor:
    """A cursor whose fetches add their time and rows to the statement's entry."""

    __slots__ = ("_cursor", "_entry")

    def __init__(self, cursor: Any, entry: list[Any]) -> None:
        self._cursor = cursor
        self._entry = entry

    def fetchone(self) -> Any:
        """The next row, or None."""
        started = time.perf_counter_ns()
        row = self._cursor.fetchone()
        StatementTimer.fetched(self._entry, time.perf_counter_ns() - started, row is not None)
        return row

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        started = time.perf_counter_ns()
        rows: list[Any] = self._cursor.fetchall()
        StatementTimer.fetched(self._entry, time.perf_counter_ns() - started, len(rows))
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class TimedConnection:
    """A connection whose `execute` is timed into a `StatementTimer`."""

    __slots__ = ("_conn", "_timer")

    def __init__(self, conn: Connection, timer: StatementTimer) -> None:
        self._conn = conn
        self._timer = timer

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> TimedCursor:
        """Run one statement, timed; its cursor times the fetches."""
        started = time.perf_counter_ns()
        cursor = self._conn.execute(sql, params)
        entry = self._timer.record(sql, params, time.perf_counter_ns() - started)
        return TimedCursor(cursor, entry)


class _TimedReading:
    """`with db.reading() as conn`: the context manager is also the connection, timed per
    statement from its execute to the next statement or the block's end (so its fetches
    count) with two clock reads and no wrapper per call: the request path's one cost."""

    __slots__ = ("_conn", "_context", "_entry", "_params", "_started", "_table")

    def __init__(self, context: AbstractContextManager[Connection], timer: StatementTimer):
        self._context = context
        table = timer._by_thread.get(threading.get_ident())  # thread_table(), inlined
        self._table = timer.thread_table() if table is None else table
        self._entry: list[Any] | None = None
        self._params: Sequence[Any] = ()
        self._started = 0

    def __enter__(self) -> _TimedReading:
        self._conn = self._context.__enter__()
        return self

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> _CountingCursor:
        """Run one statement; its time runs until the next one or the block's end."""
        now = time.perf_counter_ns()
        if self._entry is not None:
            _close(self._entry, now - self._started, self._params)
        key = (_route.get(), sql)
        entry = self._table.get(key)
        if entry is None:
            entry = self._table[key] = [0, 0, 0, 0, ()]
        entry[0] += 1
        self._entry, self._params, self._started = entry, params, now
        return _CountingCursor(self._conn.execute(sql, params), entry)

    def __exit__(self, *exc: Any) -> bool | None:
        entry = self._entry
        if entry is not None:  # _close, inlined
            elapsed_ns = time.perf_counter_ns() - self._started
            entry[1] += elapsed_ns
            if elapsed_ns > entry[2]:
                entry[2] = elapsed_ns
                entry[4] = self._params
            self._entry = None
        return self._context.__exit__(*exc)


def _close(entry: list[Any], elapsed_ns: int, params: Sequence[Any]) -> None:
    entry[1] += elapsed_ns
    if elapsed_ns > entry[2]:
        entry[2] = elapsed_ns
        entry[4] = params


class _CountingCursor:
    """A cursor that counts the rows fetched into the statement's entry (no clock)."""

    __slots__ = ("_cursor", "_entry")

    def __init__(self, cursor: Any, entry: list[Any]) -> None:
        self._cursor = cursor
        self._entry = entry

    def fetchone(self) -> Any:
        """The next row, or None."""
        row = self._cursor.fetchone()
        if row is not None:
            self._entry[3] += 1
        return row

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        rows: list[Any] = self._cursor.fetchall()
        self._entry[3] += len(rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class TimedDatabase:
    """A `Database` whose connections time every statement (the wrapped one does the work)."""

    def __init__(self, db: Database, timer: StatementTimer) -> None:
        self.inner = db
        self.timer = timer
        self.dialect = db.dialect

    @property
    def commits(self) -> int:
        """Write transactions committed by the wrapped database."""
        return self.inner.commits

    def reading(self) -> AbstractContextManager[Connection]:
        """The wrapped database's reading connection, timed."""
        return _TimedReading(self.inner.reading(), self.timer)

    def transact(self, work: Callable[[Connection], T]) -> T:
        """`work` in the wrapped database's write transaction, its statements timed."""
        timer = self.timer
        return self.inner.transact(lambda conn: work(TimedConnection(conn, timer)))

    def check(self) -> None:
        """The wrapped database's check (not timed: it is no route's work)."""
        self.inner.check()

    def close(self) -> None:
        """Drop the wrapped database's connections."""
        self.inner.close()

    def describe(self) -> str:
        """Where the wrapped database is."""
        return self.inner.describe()


class StatementRouteMiddleware:
    """Names the route (`METHOD /template`) that the statements of a request are timed under.

    The route stays set on the thread after the request: the next request on it sets its
    own before any statement, and a request refused before routing (401, 404) runs none.
    """

    def __init__(self, timer: StatementTimer) -> None:
        self.timer = timer

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: Any
    ) -> None:
        """Set the route for this request's statements."""
        _route.set(f"{req.method} {req.uri_template}")
