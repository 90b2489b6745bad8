"""`restore_backup` counts exactly the writes it discards: the ones committed after the
backup, up to the moment the copy locks the live primary, including those acknowledged
while the action was already running (it used to count them before it began, so a write
landing in between was lost without being counted: RPO's lost writes > writes_discarded).
Real SQLite files, no processes: a second connection writes as a service process would."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harness.faults import FaultContext, RecordingSink
from harness.faults.dr import corruption
from harness.service import replication

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE writes (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE);
"""


class Files:
    """The part of a deployment `restore_backup` uses: its data dir and its restore."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def restore_backup(self, backup: Path, *, offline: bool | None = None) -> Any:
        return replication.restore_backup(self.data_dir, backup, offline=bool(offline))


def write(conn: sqlite3.Connection, key: str) -> None:
    """One acknowledged write: committed before it returns."""
    with conn:
        conn.execute("INSERT INTO items (name) VALUES (?)", (key,))
        conn.execute("INSERT INTO writes (key) VALUES (?)", (key,))


def keys(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT key FROM writes")}
    finally:
        conn.close()


def test_a_write_acknowledged_during_the_restore_is_counted_as_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary = tmp_path / replication.PRIMARY
    service = sqlite3.connect(primary, isolation_level=None)
    service.execute("PRAGMA journal_mode = wal")
    service.executescript(SCHEMA)
    service.isolation_level = ""
    for key in ("w1", "w2"):
        write(service, key)
    backup = tmp_path / "backup.db"
    snapshot = replication.copy_database(primary, backup)
    for key in ("w3", "w4"):
        write(service, key)  # after the backup: the restore loses these

    real_check = replication.integrity_check

    def check_then_write(path: Path) -> str:
        # The restore has begun (its own count taken), the copy has not: a client's write
        # is acknowledged now, and the copy will discard it too.
        write(service, "w5-during-restore")
        return real_check(path)

    monkeypatch.setattr(replication, "integrity_check", check_then_write)
    ctx = FaultContext(sink=RecordingSink(), deployment=Files(tmp_path))
    result = corruption.restore_backup(ctx, path=str(backup), purge_cdn=False)
    service.close()

    assert result["mode"] == "live" and result["backup_seq"] == snapshot.seq == 2
    assert keys(primary) == {"w1", "w2"}  # w3, w4 and w5 are gone
    assert result["seq_before"] == 5
    assert result["writes_discarded"] == 3
