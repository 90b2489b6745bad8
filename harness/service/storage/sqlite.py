"""The SQLite backend: one file (WAL, synchronous=FULL) and this process's one connection
to it. The default storage of the reference service, embedded, nothing to run beside it.

`SqliteDatabase` is the only holder of the connection and of the file's path. It maps the errors
that mean "the storage is gone" (I/O, corruption, missing or replaced file, busy past the
timeout) to `StorageUnavailable`, drops its connection so the next call reopens the path,
and so a failover to a standby file needs changes here only.

Writes go through `SqliteDatabase.transact`: concurrent writers in one process share one
BEGIN IMMEDIATE ... COMMIT (group commit), each in its own savepoint, so one fsync
acknowledges them all and a failing writer rolls back only itself.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from harness.service import seed
from harness.service.storage.errors import StorageUnavailable
from harness.service.storage.groupcommit import GroupCommit
from harness.service.storage.schema import SQLITE_SCHEMA

T = TypeVar("T")

_SQLITE_MAGIC = b"SQLite format 3\x00"
_IDENTITY_RECHECK_S = 0.25
# Primary result codes that mean the storage cannot serve (as opposed to a bug in a query).
_UNAVAILABLE_CODES = {
    5: "SQLITE_BUSY", 6: "SQLITE_LOCKED", 7: "SQLITE_NOMEM", 8: "SQLITE_READONLY",
    10: "SQLITE_IOERR", 11: "SQLITE_CORRUPT", 13: "SQLITE_FULL", 14: "SQLITE_CANTOPEN",
    15: "SQLITE_PROTOCOL", 26: "SQLITE_NOTADB",
}  # fmt: skip

SCHEMA = SQLITE_SCHEMA


def unavailable_from(exc: BaseException) -> StorageUnavailable | None:
    """The StorageUnavailable that `exc` means, or None when it is not a storage failure."""
    if isinstance(exc, StorageUnavailable):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    name = _UNAVAILABLE_CODES.get(code & 0xFF)
    return None if name is None else StorageUnavailable(f"storage unavailable: {exc}", name)


class SqliteDatabase:
    """One SQLite file and this process's one connection to it (thread-safe by a lock).

    `synchronous` stays FULL in the service (an acknowledged write survives power loss);
    the benchmark sets NORMAL to measure what that costs.
    """

    dialect = "sqlite"

    def __init__(
        self, path: Path, *, busy_timeout_ms: int = 5000, synchronous: str = "FULL"
    ) -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}")
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous
        self._lock = threading.Lock()
        self._group = GroupCommit(self.writing, unavailable_from)
        self.commits = 0
        """Write transactions committed by this process (fewer than writes: group commit)."""
        self._conn: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None
        self._header_fd: int | None = None
        self._identity_checked_at = 0.0

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for statements that each run in their own implicit transaction."""
        with self._lock, self._mapped_errors():
            yield self._connection(recheck=False)

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """The connection inside BEGIN IMMEDIATE; COMMIT on success, ROLLBACK on any error."""
        with self._lock, self._mapped_errors():
            conn = self._connection(recheck=True)
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        self.close()  # a connection that cannot roll back is not reused
                raise
            conn.execute("COMMIT")
            self.commits += 1

    def transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in a write transaction and return its result once it is durable.

        Callers that arrive while a commit is under way share the next one (group commit,
        see `groupcommit`); a storage error fails every caller in it with StorageUnavailable.
        """
        return self._group.run(work)  # type: ignore[arg-type]

    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

    def check(self) -> None:
        """Raise StorageUnavailable unless the file is there, looks like SQLite, and answers."""
        with self._lock, self._mapped_errors():
            conn = self._connection(recheck=True)  # reopens, or raises, if replaced or removed
            # The header is read through a descriptor kept open beside the connection: closing
            # any descriptor of the file would drop this process's POSIX locks, SQLite's
            # included, and another process would then delete the live -wal and -shm.
            fd = self._header_fd
            header = os.pread(fd, len(_SQLITE_MAGIC), 0) if fd is not None else b""
            if header != _SQLITE_MAGIC:
                raise StorageUnavailable(f"{self.path} has no SQLite header", "SQLITE_NOTADB")
            conn.execute("SELECT 1").fetchone()
            conn.execute("SELECT MAX(seq) FROM writes").fetchone()

    def close(self) -> None:
        """Drop the connection; the next use opens the path again."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.close()
        fd, self._header_fd = self._header_fd, None
        if fd is not None:
            os.close(fd)  # after the connection: this drops the process's locks on the file

    def _connection(self, *, recheck: bool) -> sqlite3.Connection:
        now = time.monotonic()
        due = recheck or now - self._identity_checked_at > _IDENTITY_RECHECK_S
        if self._conn is not None and due:
            self._identity_checked_at = now
            if self._file_identity() != self._inode:
                self.close()  # the file was replaced or removed: never serve a stale inode
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino)

    def _open(self) -> sqlite3.Connection:
        identity = self._file_identity()
        if identity is None:
            raise StorageUnavailable(f"database file {self.path} is missing", "SQLITE_CANTOPEN")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=rw"
        conn = sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA journal_mode").fetchone()
        except sqlite3.Error:
            conn.close()
            raise
        try:
            self._header_fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            conn.close()
            raise StorageUnavailable(f"cannot read {self.path}: {exc}", "SQLITE_CANTOPEN") from exc
        self._inode = identity
        self._identity_checked_at = time.monotonic()
        return conn

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            unavailable = unavailable_from(exc)
            if unavailable is None:
                raise
            self.close()
            raise unavailable from exc
        except StorageUnavailable:
            self.close()
            raise


def _scope_idempotency_keys(conn: sqlite3.Connection) -> None:
    """Bring a write log from before keys were scoped to their caller (one key, one write
    for everyone) to today's table, each key scoped to its writer. Runs inside the caller's
    transaction."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(writes)")]
    if "idem_scope" in columns:
        return
    conn.execute("ALTER TABLE writes RENAME TO writes_unscoped")
    start = SCHEMA.index("CREATE TABLE IF NOT EXISTS writes")
    conn.execute(SCHEMA[start : SCHEMA.index(");", start) + 2])
    kept = ", ".join(columns)
    conn.execute(
        f"INSERT INTO writes ({kept}, idem_scope) "
        f"SELECT {kept}, COALESCE(actor_sub, '') FROM writes_unscoped"
    )
    conn.execute("DROP TABLE writes_unscoped")  # its indexes go with it
    for line in SCHEMA.splitlines():
        if line.startswith("CREATE INDEX") and " ON writes(" in line:
            conn.execute(line)


def create_sqlite(path: Path, seed_items: int) -> int:
    """Create the schema if missing and seed once; return how many items were seeded now.

    Safe to call from several processes at once: the seed check runs under BEGIN IMMEDIATE.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        _scope_idempotency_keys(conn)
        done = conn.execute("SELECT value FROM meta WHERE key = 'seeded_items'").fetchone()
        if done is not None:
            conn.execute("COMMIT")
            return 0
        conn.executemany(
            "INSERT INTO items (id, name, category, price, quantity, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            seed.generate_items(seed_items),
        )
        conn.execute("INSERT INTO meta (key, value) VALUES ('seeded_items', ?)", (seed_items,))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        return seed_items
    except sqlite3.Error as exc:
        unavailable = unavailable_from(exc)
        if unavailable is None:
            raise
        raise unavailable from exc
    finally:
        conn.close()
