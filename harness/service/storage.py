"""Items and their write log in SQLite (WAL, synchronous=FULL), one connection per process.

`Database` is the seam: the only holder of a connection and of the file's path. It maps the
errors that mean "the storage is gone" (I/O, corruption, missing or replaced file, busy past
the timeout) to `StorageUnavailable`, drops its connection so the next call reopens the path,
and so a failover to a standby file needs changes here only. `Storage` holds the queries.

Every write runs in BEGIN IMMEDIATE: the idempotency-key check, the item change and the
`writes` row (global `seq`, actor, before-image, response) commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.errors import RunFailed
from harness.service import seed

ITEM_COLUMNS = ("id", "name", "category", "price", "quantity", "status", "created_at")
_SELECT_ITEM = f"SELECT {', '.join(ITEM_COLUMNS)} FROM items"
_ITEM_JSON = "json_object(" + ", ".join(f"'{name}', {name}" for name in ITEM_COLUMNS) + ")"
ListedItem = tuple[str, Any, int]
"""An item as (JSON text, value of the sort field, id)."""
_SQLITE_MAGIC = b"SQLite format 3\x00"
_IDENTITY_RECHECK_S = 0.25
# Primary result codes that mean the storage cannot serve (as opposed to a bug in a query).
_UNAVAILABLE_CODES = {
    5: "SQLITE_BUSY", 6: "SQLITE_LOCKED", 7: "SQLITE_NOMEM", 8: "SQLITE_READONLY",
    10: "SQLITE_IOERR", 11: "SQLITE_CORRUPT", 13: "SQLITE_FULL", 14: "SQLITE_CANTOPEN",
    15: "SQLITE_PROTOCOL", 26: "SQLITE_NOTADB",
}  # fmt: skip

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price REAL NOT NULL,
    quantity INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'pending', 'archived')),
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_name ON items(name);
CREATE INDEX IF NOT EXISTS items_category ON items(category);
CREATE INDEX IF NOT EXISTS items_price ON items(price);
CREATE INDEX IF NOT EXISTS items_quantity ON items(quantity);
CREATE INDEX IF NOT EXISTS items_status ON items(status);
CREATE INDEX IF NOT EXISTS items_created_at ON items(created_at);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY,
    idem_key TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    op TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    actor_sub TEXT,
    actor_kid TEXT,
    actor_jti TEXT,
    t REAL NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    before TEXT
);
CREATE INDEX IF NOT EXISTS writes_kid ON writes(actor_kid, seq);
CREATE INDEX IF NOT EXISTS writes_sub ON writes(actor_sub, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StorageUnavailable(RunFailed):
    """The database cannot serve now (I/O error, corruption, file missing, busy).

    The app answers it with a 503; at startup it is a failed run (exit code 3).
    """

    def __init__(self, message: str, code: str = "SQLITE_ERROR") -> None:
        super().__init__(message)
        self.code = code


class ItemNotFound(LookupError):
    """No item has this id."""

    def __init__(self, item_id: int) -> None:
        super().__init__(f"no item with id {item_id}")
        self.item_id = item_id


class IdempotencyConflict(ValueError):
    """An idempotency key was already used for a different request."""

    def __init__(self, key: str, seq: int) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used (seq {seq}) for a different request"
        )
        self.key = key
        self.seq = seq


def unavailable_from(exc: sqlite3.Error) -> StorageUnavailable | None:
    """The StorageUnavailable that `exc` means, or None when it is not a storage failure."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    name = _UNAVAILABLE_CODES.get(code & 0xFF)
    return None if name is None else StorageUnavailable(f"storage unavailable: {exc}", name)


class Database:
    """One SQLite file and this process's one connection to it (thread-safe by a lock).

    `synchronous` stays FULL in the service (an acknowledged write survives power loss);
    the benchmark sets NORMAL to measure what that costs.
    """

    def __init__(
        self, path: Path, *, busy_timeout_ms: int = 5000, synchronous: str = "FULL"
    ) -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}")
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous
        self._lock = threading.Lock()
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


def create_database(path: Path, seed_items: int) -> int:
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


@dataclass(frozen=True)
class Actor:
    """Who made a write, from the bearer token's claims."""

    sub: str | None = None
    kid: str | None = None
    jti: str | None = None


@dataclass(frozen=True)
class WriteResult:
    """A write's answer: status, JSON body text and seq; `replayed` when the key was seen."""

    status: int
    body: str
    seq: int
    replayed: bool = False


def item_dict(row: Sequence[Any]) -> dict[str, Any]:
    """An items row as its JSON object."""
    return dict(zip(ITEM_COLUMNS, row, strict=True))


class Storage:
    """The service's queries over one Database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_json(self, item_id: int) -> str | None:
        """One item as JSON text, or None."""
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_ITEM_JSON} FROM items WHERE id = ?", (item_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def get(self, item_id: int) -> dict[str, Any] | None:
        """One item, or None."""
        with self.db.reading() as conn:
            row = conn.execute(f"{_SELECT_ITEM} WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else item_dict(row)

    def get_many_json(self, ids: Sequence[int]) -> dict[int, str]:
        """The items among `ids` that exist, each as JSON text, by id."""
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT id, {_ITEM_JSON} FROM items WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(ids)),),
            ).fetchall()
        return {row[0]: row[1] for row in rows}

    def list_items(
        self,
        where_sql: str,
        params: Sequence[Any],
        *,
        sort_field: str = "id",
        descending: bool = False,
        limit: int = 50,
        after: tuple[Any, int] | None = None,
        offset: int = 0,
    ) -> list[ListedItem]:
        """Items matching `where_sql` (from filters.to_sql) in sort order, ties by id.

        Each comes as (JSON text, sort value, id): SQLite renders the JSON, which costs a
        third of building dicts and encoding them here. `after` = (sort value, id) of the
        last item already seen (keyset pagination). `sort_field` must be a column name.
        """
        if sort_field not in ITEM_COLUMNS:
            raise ValueError(f"unknown sort field {sort_field!r}")
        direction, cmp = ("DESC", "<") if descending else ("ASC", ">")
        sql = f"SELECT {_ITEM_JSON}, {sort_field}, id FROM items WHERE ({where_sql})"
        args = list(params)
        if after is not None:
            if sort_field == "id":
                sql += f" AND id {cmp} ?"
                args.append(after[1])
            else:
                sql += f" AND ({sort_field} {cmp} ? OR ({sort_field} = ? AND id {cmp} ?))"
                args.extend((after[0], after[0], after[1]))
        order = "" if sort_field == "id" else f"{sort_field} {direction}, "
        sql += f" ORDER BY {order}id {direction} LIMIT ? OFFSET ?"
        args.extend((limit, offset))
        with self.db.reading() as conn:
            return conn.execute(sql, args).fetchall()

    def create(self, fields: Mapping[str, Any], key: str, actor: Actor) -> WriteResult:
        """Insert an item (201); created_at is set here."""

        def apply(conn: sqlite3.Connection, seq: int) -> tuple[int, int, dict[str, Any], None]:
            created_at = seed.format_time_now()
            values = [fields[name] for name in ITEM_COLUMNS[1:6]] + [created_at]
            row = conn.execute(
                "INSERT INTO items (name, category, price, quantity, status, created_at) "
                f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {', '.join(ITEM_COLUMNS)}",
                values,
            ).fetchone()
            item = item_dict(row)
            return 201, item["id"], {"item": item, "seq": seq}, None

        return self._write("create", None, fields, key, actor, apply)

    def update(
        self, item_id: int, fields: Mapping[str, Any], key: str, actor: Actor
    ) -> WriteResult:
        """Change some fields of an item (200); ItemNotFound if it does not exist."""

        def apply(conn: sqlite3.Connection, seq: int) -> tuple[int, int, dict[str, Any], Any]:
            before = self._row(conn, item_id)
            assignments = ", ".join(f"{name} = ?" for name in fields if name in ITEM_COLUMNS)
            values = [*fields.values(), item_id]
            row = conn.execute(
                f"UPDATE items SET {assignments} WHERE id = ? RETURNING {', '.join(ITEM_COLUMNS)}",
                values,
            ).fetchone()
            return 200, item_id, {"item": item_dict(row), "seq": seq}, before

        unknown = set(fields) - set(ITEM_COLUMNS[1:6])
        if unknown or not fields:
            raise ValueError(f"cannot update fields {sorted(unknown) or 'none'}")
        return self._write("update", item_id, fields, key, actor, apply)

    def delete(self, item_id: int, key: str, actor: Actor) -> WriteResult:
        """Remove an item (200, body names it); ItemNotFound if it does not exist."""

        def apply(conn: sqlite3.Connection, seq: int) -> tuple[int, int, dict[str, Any], Any]:
            before = self._row(conn, item_id)
            conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
            return 200, item_id, {"deleted": item_id, "seq": seq}, before

        return self._write("delete", item_id, {}, key, actor, apply)

    def lookup_writes(self, keys: Sequence[str]) -> dict[str, int]:
        """The seq of each key that was written; absent keys are left out."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT idem_key, seq FROM writes WHERE idem_key IN "
                "(SELECT value FROM json_each(?))",
                (json.dumps(list(keys)),),
            ).fetchall()
        return {key: seq for key, seq in rows}

    def audit(
        self, *, kid: str | None, sub: str | None, since_seq: int, limit: int
    ) -> list[dict[str, Any]]:
        """Writes after `since_seq`, oldest first, optionally by signing key or subject."""
        sql = (
            "SELECT seq, idem_key, op, item_id, actor_sub, actor_kid, actor_jti, t, status, "
            "before FROM writes WHERE seq > ?"
        )
        args: list[Any] = [since_seq]
        if kid is not None:
            sql += " AND actor_kid = ?"
            args.append(kid)
        if sub is not None:
            sql += " AND actor_sub = ?"
            args.append(sub)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self.db.reading() as conn:
            rows = conn.execute(sql, args).fetchall()
        names = ("seq", "idempotency_key", "op", "item_id", "sub", "kid", "jti", "t", "status")
        out = []
        for row in rows:
            entry = dict(zip(names, row[:9], strict=True))
            entry["before"] = None if row[9] is None else json.loads(row[9])
            out.append(entry)
        return out

    def last_seq(self) -> int:
        """The highest write sequence number so far (0 before any write)."""
        with self.db.reading() as conn:
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM writes").fetchone()
        return int(row[0])

    def _row(self, conn: sqlite3.Connection, item_id: int) -> dict[str, Any]:
        row = conn.execute(f"{_SELECT_ITEM} WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise ItemNotFound(item_id)
        return item_dict(row)

    def _write(
        self,
        op: str,
        item_id: int | None,
        fields: Mapping[str, Any],
        key: str,
        actor: Actor,
        apply: Callable[[sqlite3.Connection, int], tuple[int, int, dict[str, Any], Any]],
    ) -> WriteResult:
        fingerprint = _fingerprint(op, item_id, fields)
        with self.db.writing() as conn:
            seen = conn.execute(
                "SELECT seq, fingerprint, status, response FROM writes WHERE idem_key = ?", (key,)
            ).fetchone()
            if seen is not None:
                if seen[1] != fingerprint:
                    raise IdempotencyConflict(key, seen[0])
                return WriteResult(status=seen[2], body=seen[3], seq=seen[0], replayed=True)
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM writes").fetchone()[0]
            status, written_id, body, before = apply(conn, seq)
            text = json.dumps(body, separators=(",", ":"))
            conn.execute(
                "INSERT INTO writes (seq, idem_key, fingerprint, op, item_id, actor_sub, "
                "actor_kid, actor_jti, t, status, response, before) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq, key, fingerprint, op, written_id, actor.sub, actor.kid, actor.jti,
                    time.time(), status, text, None if before is None else json.dumps(before),
                ),
            )  # fmt: skip
        return WriteResult(status=status, body=text, seq=seq)


def _fingerprint(op: str, item_id: int | None, fields: Mapping[str, Any]) -> str:
    canonical = json.dumps([op, item_id, dict(fields)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
