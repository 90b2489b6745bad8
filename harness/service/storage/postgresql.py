"""The PostgreSQL backend: psycopg 3 through a psycopg_pool connection pool.

Reads run on a pooled connection in autocommit mode. Writes run through the same group
commit as SQLite's: one transaction per batch, each writer in its own savepoint, holding a
transaction-scoped advisory lock so that `seq` (MAX + 1) stays gap-free and in commit order
across every process that serves the same database.

Surviving a restart or a failover: an error that means "the server cannot serve"
(connection lost or refused, shutdown in progress, a read-only server after a failover, no
connection within the pool's timeout) becomes `StorageUnavailable`, so that request gets a
503; the connection it happened on is dropped, and the pool's idle connections are checked
in the background, so the dead ones go too and the next requests get fresh ones. Checking
every connection as it is handed out instead would cost a round trip per request (measured:
a third of a cached-statement read's time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from harness.errors import ConfigError
from harness.service import seed
from harness.service.storage.errors import StorageUnavailable
from harness.service.storage.groupcommit import GroupCommit
from harness.service.storage.schema import POSTGRESQL_SCHEMA

T = TypeVar("T")
log = logging.getLogger(__name__)

# pg_advisory_xact_lock keys: "hrns" + a purpose, so they do not collide with a user's.
WRITE_LOCK_KEY = 0x68726E73_00000001
SCHEMA_LOCK_KEY = 0x68726E73_00000002
CONNECT_TIMEOUT_S = 3
POOL_TIMEOUT_S = 2.0
RECONNECT_GIVE_UP_S = 2.0
# SQLSTATE classes that mean the server cannot serve now, whatever the statement:
# 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown,
# cannot connect now), 58 system error; and 25006, a write sent to a read-only server.
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58")
_READ_ONLY = "25006"

SCHEMA = POSTGRESQL_SCHEMA
"""The same tables as SQLite's (harness.service.storage.schema)."""


def describe_dsn(dsn: str) -> str:
    """`user@host:port/dbname` of a connection string, never its password."""
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "an unparsable postgresql URL"
    host = str(parts.get("host") or "localhost")
    where = f"{host}:{parts.get('port') or 5432}"
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"{user}{where}/{parts.get('dbname') or ''}"


def unavailable_from(exc: BaseException) -> StorageUnavailable | None:
    """The StorageUnavailable that `exc` means, or None when it is not a storage failure."""
    if isinstance(exc, StorageUnavailable):
        return exc
    if isinstance(exc, PoolTimeout):
        return StorageUnavailable(f"storage unavailable: {_first_line(exc)}", "POOL_TIMEOUT")
    if not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate or ""
    if (
        isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        or state.startswith(_UNAVAILABLE_CLASSES)
        or state == _READ_ONLY
    ):
        return StorageUnavailable(
            f"storage unavailable: {_first_line(exc)}", f"PG_{state or type(exc).__name__}"
        )
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PostgresDatabase:
    """A PostgreSQL database reached through a pool of up to `max_size` connections."""

    dialect = "postgresql"

    def __init__(self, dsn: str, *, max_size: int = 8, timeout_s: float = POOL_TIMEOUT_S) -> None:
        self._where = describe_dsn(dsn)
        self.commits = 0
        self._commits_lock = threading.Lock()
        self._checking_lock = threading.Lock()
        self._checking = False
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(1, max_size),
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            timeout=timeout_s,
            # Reconnection backs off exponentially (1 s, 2 s, 4 s...) for this long, then gives
            # up until the next request asks for a connection, which tries at once. Kept
            # short, the service is back within about a second of the server, however long
            # the outage was (a five-minute default could leave it waiting 2 minutes more).
            reconnect_timeout=RECONNECT_GIVE_UP_S,
            reconnect_failed=_quietly,
            name=f"harness-{self._where}",
            open=False,
        )
        self._pool.open(wait=False)
        self._group = GroupCommit(self.writing, unavailable_from)

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection (autocommit): each statement is its own transaction."""
        with self._mapped_errors(), self._pool.connection() as conn, self._dropped(conn):
            yield conn

    @contextmanager
    def writing(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside BEGIN ... COMMIT holding the write lock."""
        with self._mapped_errors(), self._pool.connection() as conn, self._dropped(conn):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
                yield conn
            with self._commits_lock:
                self.commits += 1

    def transact(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run `work` in a write transaction and return its result once it is durable
        (group commit, see `groupcommit`)."""
        return self._group.run(work)  # type: ignore[arg-type]

    def check(self) -> None:
        """Raise StorageUnavailable unless the server answers and takes writes."""
        with self.reading() as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and row[0]:
                raise StorageUnavailable(
                    f"PostgreSQL at {self._where} is a read-only standby", "PG_25006"
                )
            conn.execute("SELECT MAX(seq) FROM writes").fetchone()

    def close(self) -> None:
        """Close the pool and its connections."""
        self._pool.close()

    def describe(self) -> str:
        """`user@host:port/dbname`."""
        return self._where

    @contextmanager
    def _dropped(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        """Close `conn` when the server could not serve on it, so the pool replaces it (after
        a failover it may still reach a node that is now read-only), and have the pool's
        idle connections checked: after a restart they are all dead."""
        try:
            yield
        except Exception as exc:
            if unavailable_from(exc) is not None:
                if not conn.closed:
                    conn.close()
                self._check_idle_soon()
            raise

    def _check_idle_soon(self) -> None:
        with self._checking_lock:
            if self._checking:
                return
            self._checking = True
        threading.Thread(target=self._check_idle, name="pg-pool-check", daemon=True).start()

    def _check_idle(self) -> None:
        try:
            self._pool.check()
        except Exception:  # a closed pool, a server still down: the next failure checks again
            log.debug("pool check failed", exc_info=True)
        finally:
            with self._checking_lock:
                self._checking = False

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            unavailable = unavailable_from(exc)
            if unavailable is None or unavailable is exc:
                raise
            raise unavailable from exc


def _quietly(pool: ConnectionPool[Any]) -> None:
    """A reconnection gave up: the next request tries again, and its 503 is logged."""


def create_postgresql(dsn: str, seed_items: int) -> int:
    """Create the schema if missing and seed once; how many items were seeded now.

    A server that cannot be reached is bad input (ConfigError naming host and port, never
    the password): nothing has started yet. Safe to run from several processes at once.
    """
    where = describe_dsn(dsn)
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        reason = _first_line(exc).replace(_password(dsn) or "\0", "***")
        message = f"cannot connect to PostgreSQL at {where}: {reason}"
        raise ConfigError(message, "--database") from None
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            conn.execute(SCHEMA)
            done = conn.execute("SELECT value FROM meta WHERE key = 'seeded_items'").fetchone()
            if done is not None:
                return 0
            _seed(conn, seed_items)
        conn.execute("ANALYZE items")
        return seed_items
    except psycopg.Error as exc:
        unavailable = unavailable_from(exc)
        if unavailable is None:
            raise
        raise unavailable from exc
    finally:
        conn.close()


def _seed(conn: psycopg.Connection[Any], seed_items: int) -> None:
    columns = "id, name, category, price, quantity, status, created_at"
    with conn.cursor() as cur, cur.copy(f"COPY items ({columns}) FROM STDIN") as copy:
        for row in seed.generate_items(seed_items):
            copy.write_row(row)
    # Ids seeded explicitly: the identity continues after them, as SQLite's AUTOINCREMENT.
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('items', 'id'), "
        "(SELECT COALESCE(MAX(id), 0) + 1 FROM items), false)"
    )
    conn.execute("INSERT INTO meta (key, value) VALUES ('seeded_items', %s)", (str(seed_items),))


def _password(dsn: str) -> str | None:
    try:
        return conninfo.conninfo_to_dict(dsn).get("password")  # type: ignore[return-value]
    except psycopg.ProgrammingError:
        return None
