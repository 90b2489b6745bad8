"""From the `--database` setting to a Database: `sqlite` (the default) or a PostgreSQL DSN.

The setting is checked once at the edge (`check_database_setting`); `prepare_database`
creates the schema and seeds once, before the service's worker processes start;
`open_database` is what each worker process then serves from.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import ConfigError
from harness.service.storage.backend import Database
from harness.service.storage.sqlite import SqliteDatabase, create_sqlite

SQLITE = "sqlite"
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def is_postgresql(setting: str) -> bool:
    """True when `setting` is a PostgreSQL connection URL."""
    return setting.startswith(POSTGRESQL_SCHEMES)


def check_database_setting(setting: str, where: str = "--database") -> str:
    """`setting` if it names a backend, else ConfigError naming `where`."""
    if setting == SQLITE or is_postgresql(setting):
        return setting
    raise ConfigError(
        "expected 'sqlite' or a postgresql:// URL, got "
        f"{setting.split('://', 1)[0] + '://…' if '://' in setting else repr(setting)}",
        where,
    )


def prepare_database(setting: str, sqlite_path: Path, seed_items: int) -> int:
    """Create the schema if missing and seed once; how many items were seeded now."""
    if is_postgresql(setting):
        from harness.service.storage.postgresql import create_postgresql

        return create_postgresql(setting, seed_items)
    return create_sqlite(sqlite_path, seed_items)


def open_database(setting: str, sqlite_path: Path, *, pool_size: int = 8) -> Database:
    """The Database for `setting`: the SQLite file at `sqlite_path`, or a pool of up to
    `pool_size` connections to the PostgreSQL server the URL names."""
    if is_postgresql(setting):
        from harness.service.storage.postgresql import PostgresDatabase

        return PostgresDatabase(setting, max_size=pool_size)
    return SqliteDatabase(sqlite_path)
