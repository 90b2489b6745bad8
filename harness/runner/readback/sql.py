"""The `sql` adapter: the user's query over a batch of keys returns the keys present.

- PostgreSQL (`postgresql://...`, through psycopg): the batch is bound as a text array,
  `SELECT order_id FROM orders WHERE order_id = ANY(%s)`.
- SQLite (`sqlite:///shop.db` relative to the scenario file, `sqlite:////abs/shop.db`
  absolute; opened read-only): the batch is bound as JSON array text,
  `SELECT id FROM orders WHERE id IN (SELECT value FROM json_each(?))`.

The first column of each row is a key that is present; every other key of the batch is
lost. A database that refuses (connection, lock) is retried every 0.5 s until the deadline,
then the read-back fails as a whole (`error` in readback.json). Calls run in gevent's thread
pool, so the master keeps serving its workers while a query runs.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from harness.errors import ConfigError
from harness.runner.readback.core import Checked, Entries, ReadbackError
from harness.runner.readback.spec import SqlSpec, env_value, redact_dsn

RETRY_EVERY_S = 0.5
CONNECT_TIMEOUT_S = 5
PROBE_KEY = "harness-readback-probe"

_RETRYABLE: tuple[type[Exception], ...] = (psycopg.OperationalError, sqlite3.OperationalError)
_FAILED: tuple[type[Exception], ...] = (psycopg.Error, sqlite3.Error)


@dataclass
class SqlAdapter:
    """Runs the query batch by batch (see the module docstring)."""

    spec: SqlSpec
    base_dir: Path
    retry_every_s: float = RETRY_EVERY_S
    name: str = "sql"

    @property
    def dsn(self) -> str:
        """The DSN itself (read from the environment when the file names a variable)."""
        return env_value(self.spec.dsn, "readback.dsn")

    @property
    def shown_dsn(self) -> str:
        """The DSN for messages: without its password."""
        return redact_dsn(self.dsn)

    def check(self, entries: Entries, deadline: float) -> Checked:
        """Present keys; the others are lost. ReadbackError when the database never answers."""
        keys = list(entries)
        out = Checked()
        for start in range(0, len(keys), self.spec.batch):
            batch = keys[start : start + self.spec.batch]
            for key in self._retrying(batch, deadline):
                out.present[key] = None
        return out

    def probe(self) -> None:
        """Connect and run the query once (with a key that matches nothing); ConfigError."""
        try:
            self._query([PROBE_KEY])  # before the load: no gevent hub in this process yet
        except _FAILED as exc:
            raise ConfigError(f"{self.shown_dsn}: {_reason(exc)}", "readback") from None

    def _retrying(self, batch: Sequence[str], deadline: float) -> set[str]:
        wanted = set(batch)
        while True:
            try:
                return {key for key in _in_thread(lambda: self._query(batch)) if key in wanted}
            except _RETRYABLE as exc:
                if time.monotonic() + self.retry_every_s > deadline:
                    raise ReadbackError(
                        f"the database did not answer before the read-back deadline "
                        f"({self.shown_dsn}: {_reason(exc)})"
                    ) from None
                _sleep(self.retry_every_s)
            except _FAILED as exc:
                raise ReadbackError(f"the read-back query failed: {_reason(exc)}") from None

    def _query(self, batch: Sequence[str]) -> list[str]:
        dsn = self.dsn
        if urlsplit(dsn).scheme == "sqlite":
            return self._sqlite(sqlite_path(dsn, self.base_dir), batch)
        with psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
            rows = conn.execute(self.spec.query, (list(batch),)).fetchall()
        return [str(row[0]) for row in rows]

    def _sqlite(self, path: Path, batch: Sequence[str]) -> list[str]:
        if not path.is_file():
            raise sqlite3.OperationalError(f"no database file at {path}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=CONNECT_TIMEOUT_S)
        try:
            rows = conn.execute(self.spec.query, (json.dumps(list(batch)),)).fetchall()
        finally:
            conn.close()
        return [str(row[0]) for row in rows]


def sqlite_path(dsn: str, base_dir: Path) -> Path:
    """`sqlite:///rel.db` → base_dir/rel.db; `sqlite:////abs.db` → /abs.db (as SQLAlchemy)."""
    rest = dsn[len("sqlite:///") :] if dsn.startswith("sqlite:///") else dsn[len("sqlite:") :]
    path = Path(rest)
    return path if path.is_absolute() else base_dir / path


def _in_thread(call: Callable[[], Any]) -> Any:
    """Run a blocking database call in gevent's thread pool; its exception is re-raised."""
    import gevent  # the read-back runs in the load's master, already patched

    return gevent.get_hub().threadpool.apply(call)


def _sleep(seconds: float) -> None:
    import gevent

    gevent.sleep(seconds)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
