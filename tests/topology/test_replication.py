"""The standby and backups: what a sync copies, what it records, and both ways to restore."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.service import replication
from harness.service.replication import (
    ReplicationConfig,
    ReplicationError,
    Replicator,
    integrity_check,
)
from harness.service.storage import Actor, SqliteDatabase, Storage, create_sqlite
from harness.testing import wait_until

ITEM = {"name": "n", "category": "tools", "price": 1.0, "quantity": 1, "status": "active"}


def make_primary(data_dir: Path, items: int = 50) -> Storage:
    create_sqlite(data_dir / "items.db", items)
    return Storage(SqliteDatabase(data_dir / "items.db"))


def write(storage: Storage, key: str) -> int:
    return storage.create(ITEM, key, Actor(sub="test")).seq


def count(path: Path, table: str = "writes") -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def destroy(path: Path, offset: int, size: int) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(os.urandom(size))
        fh.flush()
        os.fsync(fh.fileno())


def test_a_sync_copies_acknowledged_writes_and_records_when(tmp_path: Path) -> None:
    storage = make_primary(tmp_path)
    seqs = [write(storage, f"k{i}") for i in range(5)]
    replicator = Replicator(ReplicationConfig(tmp_path))
    before = time.time()
    snap = replicator.sync_once()
    assert snap is not None and snap.seq == seqs[-1]
    assert count(tmp_path / "standby.db") == 5 and count(tmp_path / "standby.db", "items") == 55
    state = replication.read_state(tmp_path)
    assert state.last_sync_seq == seqs[-1] and before <= (state.last_sync_t or 0) <= time.time()
    assert integrity_check(tmp_path / "standby.db") == "ok"
    assert not Path(f"{tmp_path}/standby.db-wal").exists()  # one self-contained file


def test_a_corrupted_primary_never_overwrites_the_standby(tmp_path: Path) -> None:
    storage = make_primary(tmp_path, items=2000)
    write(storage, "k1")
    replicator = Replicator(ReplicationConfig(tmp_path))
    assert replicator.sync_once() is not None
    good_t = replication.read_state(tmp_path).last_sync_t
    storage.db.close()
    conn = sqlite3.connect(tmp_path / "items.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    destroy(tmp_path / "items.db", 4096 * 4, 4096 * 16)
    assert replicator.sync_once() is None
    state = replication.read_state(tmp_path)
    assert state.failures == 1 and state.last_error and state.last_sync_t == good_t
    assert count(tmp_path / "standby.db") == 1 and integrity_check(tmp_path / "standby.db") == "ok"


def test_backups_are_indexed_pruned_and_restorable(tmp_path: Path) -> None:
    storage = make_primary(tmp_path)
    replicator = Replicator(ReplicationConfig(tmp_path, keep_backups=2))
    for second in range(3):
        write(storage, f"k{second}")
        snap = replicator.sync_once()
        assert snap is not None
        replicator.backup_once(replication.Snapshot(snap.path, snap.t + second, snap.seq, 0))
    backups = replication.list_backups(tmp_path)
    assert [b.seq for b in backups] == [2, 3]
    assert len(list((tmp_path / "backups").glob("items-*.db"))) == 2
    assert all(integrity_check(b.path) == "ok" for b in backups)
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    result = replication.restore_backup(fresh, backups[0].path, offline=True)
    assert result.mode == "offline" and result.seq == 2
    assert integrity_check(fresh / "items.db") == "ok" and count(fresh / "items.db") == 2


def test_live_restore_reaches_a_connection_that_stays_open(tmp_path: Path) -> None:
    storage = make_primary(tmp_path, items=2000)
    write(storage, "kept")
    assert Replicator(ReplicationConfig(tmp_path)).sync_once() is not None
    write(storage, "lost")  # after the last sync: a failover loses it
    assert storage.lookup_writes(["kept", "lost"]) == {"kept": 1, "lost": 2}
    result = replication.promote_standby(tmp_path)
    assert result.mode == "live" and result.seq == 1
    assert storage.lookup_writes(["kept", "lost"]) == {"kept": 1}  # same open connection
    assert write(storage, "after") == 2
    assert integrity_check(tmp_path / "items.db") == "ok"


def test_a_destroyed_header_needs_the_offline_replace(tmp_path: Path) -> None:
    storage = make_primary(tmp_path)
    write(storage, "k1")
    assert Replicator(ReplicationConfig(tmp_path)).sync_once() is not None
    storage.db.close()
    destroy(tmp_path / "items.db", 0, 4096)
    with pytest.raises(ReplicationError, match="live"):
        replication.promote_standby(tmp_path)
    result = replication.promote_standby(tmp_path, offline=True)
    assert result.mode == "offline" and result.seq == 1
    assert integrity_check(tmp_path / "items.db") == "ok"
    assert storage.lookup_writes(["k1"]) == {"k1": 1}


@pytest.mark.e2e
def test_the_replicator_process_syncs_until_sigterm(tmp_path: Path) -> None:
    storage = make_primary(tmp_path)
    command = [sys.executable, "-m", "harness.service.replication", "--data-dir", str(tmp_path),
               "--standby-interval-s", "0.1", "--backup-interval-s", "1"]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True)
    try:
        wait_until(lambda: replication.read_state(tmp_path).syncs >= 2, 10, "two syncs")
        seq = write(storage, "during")
        wait_until(lambda: replication.read_state(tmp_path).last_sync_seq == seq, 10, "the write")
        assert replication.list_backups(tmp_path)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    kinds = [e["kind"] for e in replication_events(tmp_path)]
    assert kinds[0] == "replicator_started" and kinds[-1] == "replicator_stopped"


def replication_events(data_dir: Path) -> list[dict[str, object]]:
    from harness.rundir import iter_jsonl

    return list(iter_jsonl(data_dir / replication.EVENTS))
