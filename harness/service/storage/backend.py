"""The storage interface: what `Storage` needs from a database, whichever one it is.

Two backends implement `Database`: `SqliteDatabase` (one embedded file, the default) and
`PostgresDatabase` (a psycopg connection pool). Both hand out DB-API-like connections whose
`execute(sql, params)` returns a cursor, take SQL written with `?` placeholders through
their `Dialect`, and map "the storage cannot serve" to `StorageUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Cursor(Protocol):
    """The part of a DB-API cursor the queries use."""

    def fetchone(self) -> Any:
        """The next row, or None."""

    def fetchall(self) -> list[Any]:
        """Every remaining row."""


class Connection(Protocol):
    """The part of a connection the queries use (sqlite3 and psycopg both have it)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any:
        """Run one statement; returns a Cursor."""


class Database(Protocol):
    """One database and this process's way of reaching it."""

    dialect: str
    """"sqlite" or "postgresql": which SQL the queries speak to it."""

    @property
    def commits(self) -> int:
        """Write transactions committed by this process (fewer than writes: group commit)."""

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection for statements that each run in their own implicit transaction."""

    def transact(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction (group commit); its result once durable."""

    def check(self) -> None:
        """Raise StorageUnavailable unless the database answers."""

    def close(self) -> None:
        """Drop the connection(s); the next use opens them again."""

    def describe(self) -> str:
        """Where the database is, for logs and errors (never a password)."""
