"""Page surgery on real SQLite files in WAL mode, with connections kept open the way service
processes keep them: the damage is seen by an open connection, not only by new ones.

(A connection whose own write was the last one keeps its page cache and answers from it
until someone writes again: a disk failing under a process with a warm cache. The service's
readiness check reads the header from the file, so it fails at once either way.)"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.faults.dr.common import integrity_problems, probe_database
from harness.faults.dr.pages import corrupt_table, destroy_files, table_pages, wal_path
from harness.service.storage import create_sqlite


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A seeded database, recent writes still in the WAL, and an open reader connection
    that has read the table before (and will notice, as in another process, that a
    writer has written since)."""
    path = tmp_path / "items.db"
    create_sqlite(path, 400)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("SELECT SUM(quantity) FROM items").fetchone()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")  # keep the latest pages in the WAL
    writer.execute("UPDATE items SET quantity = quantity + 1")
    yield path, reader
    reader.close()
    writer.close()


def test_pages_of_the_table_and_its_indexes_never_page_one(
    live: tuple[Path, sqlite3.Connection],
) -> None:
    path, _ = live
    owners = table_pages(path, "items")
    assert 1 not in owners
    assert {"items", "items_name", "items_price"} <= set(owners.values())
    assert "writes" not in owners.values()
    assert set(table_pages(path, "items", include_indexes=False).values()) == {"items"}


def test_corrupted_pages_break_reads_and_the_integrity_check(
    live: tuple[Path, sqlite3.Connection],
) -> None:
    path, conn = live
    assert wal_path(path).stat().st_size > 0
    damage = corrupt_table(path, "items", 4, seed=1)
    assert len(damage.pages) == 4 and "items" in damage.owners.values()
    assert damage.wal_frames >= 1  # the newest copies, in the WAL, were hit too
    assert integrity_problems(path) != []
    assert probe_database(path) is None or "malformed" in str(probe_database(path))
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("SELECT * FROM items").fetchall()  # one of the table's own pages is hit
    assert conn.execute("SELECT COUNT(*) FROM writes").fetchone() == (0,)  # page 1 intact


def test_a_destroyed_database_fails_open_connections(
    live: tuple[Path, sqlite3.Connection],
) -> None:
    path, conn = live
    size, wal_size = path.stat().st_size, wal_path(path).stat().st_size
    damage = destroy_files(path)
    assert damage.bytes_by_file == {"items.db": size, "items.db-wal": wal_size}
    assert path.stat().st_size == size  # in place: not an empty (valid) database
    assert probe_database(path) is not None
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("SELECT COUNT(*) FROM items").fetchone()
