"""The reference service's storage: one interface, two backends.

`Storage` holds the service's queries; a `Database` is where they run: `SqliteDatabase`
(one embedded file, WAL, synchronous=FULL; the default, and the one the reference
deployment replicates to a standby file) or `PostgresDatabase` (psycopg 3 through a
connection pool). `open_database` picks one from the `--database` setting.
"""

from __future__ import annotations

from harness.service.storage.backend import Connection, Database
from harness.service.storage.dialect import ITEM_COLUMNS
from harness.service.storage.errors import IdempotencyConflict, ItemNotFound, StorageUnavailable
from harness.service.storage.queries import Actor, ItemPage, Storage, WriteResult, item_dict
from harness.service.storage.sqlite import SCHEMA, SqliteDatabase, create_sqlite, unavailable_from

__all__ = [
    "ITEM_COLUMNS",
    "SCHEMA",
    "Actor",
    "Connection",
    "Database",
    "IdempotencyConflict",
    "ItemNotFound",
    "ItemPage",
    "SqliteDatabase",
    "Storage",
    "StorageUnavailable",
    "WriteResult",
    "create_sqlite",
    "item_dict",
    "unavailable_from",
]
