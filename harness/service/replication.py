"""The standby database and periodic backups, kept with SQLite's online backup API.

A replicator (`Replicator.run`, or the process `python -m harness.service.replication`) copies
the primary `<data>/items.db` every `standby_interval_s`:

1. `Connection.backup` into a temporary file: one consistent snapshot, taken while the
   service keeps writing (a WAL reader never blocks writers);
2. `PRAGMA quick_check` on the copy, so a corrupted primary never overwrites a good standby;
3. atomic `os.replace` onto `<data>/standby.db`, then `replication.json` records the sync:
   `last_sync_t` (the snapshot's start: every write acknowledged before it is in the standby)
   and `last_sync_seq` (the highest write `seq` in the standby).

Every `backup_interval_s` the fresh standby is also copied to `<data>/backups/items-<epoch>.db`
and listed in `<data>/backups/index.json`; the newest `keep_backups` are kept. Standby and
backups are single self-contained files (rollback journal, no -wal).

Restoring (the Database Failover and Data Corruption scenarios) goes one of two ways:

- `restore_live(data_dir, source)`: the backup API copies `source` *into* the live primary in
  one transaction. Service processes keep their connections and see the restored data at
  their next statement. Needs a primary whose first page is still readable.
- `replace_primary(data_dir, source)`: builds the new primary beside the old one and renames it
  into place. Only while no process has the primary open (the deployment stops the service
  processes first); a live WAL connection would otherwise delete the new file's -wal/-shm.

`promote_standby` and `restore_backup` pick the source and call one of them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError, RunFailed
from harness.rundir import JsonlAppender, read_json, write_json_atomic

PRIMARY = "items.db"
STANDBY = "standby.db"
BACKUPS = "backups"
BACKUP_INDEX = "index.json"
STATE = "replication.json"
EVENTS = "replication-events.jsonl"


class ReplicationError(RunFailed):
    """A sync, backup or restore could not be done; the message says which file and why."""


@dataclass(frozen=True)
class ReplicationConfig:
    """Where the primary is and how often to sync the standby and take backups."""

    data_dir: Path
    standby_interval_s: float = 1.0
    backup_interval_s: float = 30.0
    keep_backups: int = 5

    def __post_init__(self) -> None:
        if not 0.05 <= self.standby_interval_s <= 3600:
            raise ConfigError("expected 0.05..3600 seconds", "standby_interval_s")
        if not 1 <= self.backup_interval_s <= 86400:
            raise ConfigError("expected 1..86400 seconds", "backup_interval_s")
        if not 1 <= self.keep_backups <= 1000:
            raise ConfigError("expected 1..1000", "keep_backups")

    @property
    def primary(self) -> Path:
        """The primary database file."""
        return self.data_dir / PRIMARY

    @property
    def standby(self) -> Path:
        """The standby file."""
        return self.data_dir / STANDBY


@dataclass(frozen=True)
class Snapshot:
    """One verified copy: where, of what moment, up to which write `seq` (None: no writes table)."""

    path: Path
    t: float
    seq: int | None
    size_bytes: int
    duration_s: float = 0.0


@dataclass
class StandbyState:
    """What `replication.json` says about the standby."""

    last_sync_t: float | None = None
    last_sync_seq: int | None = None
    last_sync_duration_s: float | None = None
    syncs: int = 0
    failures: int = 0
    last_error: str | None = None
    last_error_t: float | None = None
    replicator_pid: int | None = None
    backups: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreResult:
    """A restore that happened: from which file, how (`live` or `offline`), when, to which seq."""

    source: Path
    mode: Literal["live", "offline"]
    started_t: float
    done_t: float
    seq: int | None
    replaced_seq: int | None = None
    """The primary's last write seq at the moment the restore replaced it, read under the
    restore's own write lock (None when unreadable): writes after `seq` up to it are lost."""


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    mode = "ro" if read_only else "rwc"
    return sqlite3.connect(f"file:{path.resolve()}?mode={mode}", uri=True, timeout=5.0)


def _max_seq(conn: sqlite3.Connection) -> int | None:
    try:
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM writes").fetchone()
    except sqlite3.OperationalError:
        return None
    return int(row[0])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_database(source: Path, dest: Path, journal_mode: str = "delete") -> Snapshot:
    """Copy `source` (live or not) to `dest` atomically with the backup API, verified by
    `PRAGMA quick_check`; `dest` is replaced only by a good copy. Raises ReplicationError."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    started_t, started = time.time(), time.monotonic()
    try:
        if not source.is_file():
            raise ReplicationError(f"{source} is missing")
        src = _connect(source, read_only=True)
        out = _connect(tmp)
        try:
            src.backup(out)
            out.execute(f"PRAGMA journal_mode = {journal_mode}").fetchone()
            verdict = out.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise ReplicationError(f"copy of {source} fails quick_check: {verdict}")
            seq = _max_seq(out)
        finally:
            src.close()
            out.close()
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except sqlite3.Error as exc:
        raise ReplicationError(f"cannot copy {source}: {exc}") from exc
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)
    size = dest.stat().st_size
    return Snapshot(dest, started_t, seq, size, time.monotonic() - started)


def integrity_check(path: Path) -> str:
    """`PRAGMA integrity_check` of a database file: `ok` or the first problem found."""
    try:
        conn = _connect(path, read_only=True)
        try:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}"


class Replicator:
    """Keeps the standby and the backups; records each sync in `replication.json`."""

    def __init__(self, config: ReplicationConfig) -> None:
        self.config = config
        self.state = read_state(config.data_dir)
        self.state.replicator_pid = os.getpid()
        self._failing = False

    def emit(self, kind: str, **fields: Any) -> None:
        """Append an event to `replication-events.jsonl` (rare: opened for each one)."""
        events = JsonlAppender(self.config.data_dir / EVENTS)
        try:
            events.append({"t": time.time(), "kind": kind, **fields})
        finally:
            events.close()

    def sync_once(self) -> Snapshot | None:
        """One standby sync; a failure is recorded (and returned as None), never raised."""
        try:
            snap = copy_database(self.config.primary, self.config.standby)
        except ReplicationError as exc:
            self.state.failures += 1
            self.state.last_error, self.state.last_error_t = str(exc), time.time()
            if not self._failing:
                self.emit("standby_sync_failed", error=str(exc), last_sync_t=self.state.last_sync_t)
            self._failing = True
            self._save()
            return None
        if self._failing:
            self.emit("standby_sync_recovered", seq=snap.seq)
        self._failing = False
        self.state.syncs += 1
        self.state.last_sync_t, self.state.last_sync_seq = snap.t, snap.seq
        self.state.last_sync_duration_s = round(snap.duration_s, 6)
        self._save()
        return snap

    def backup_once(self, snap: Snapshot) -> Snapshot:
        """Copy a verified standby snapshot into `backups/`, prune old ones, update the index."""
        folder = self.config.data_dir / BACKUPS
        folder.mkdir(exist_ok=True)
        dest = folder / f"items-{int(snap.t)}.db"
        backup = copy_database(snap.path, dest)
        backup = Snapshot(dest, snap.t, snap.seq, backup.size_bytes, backup.duration_s)
        entries = [e for e in self.state.backups if e["file"] != dest.name]
        entries.append(
            {"file": dest.name, "t": snap.t, "seq": snap.seq, "size_bytes": backup.size_bytes}
        )
        entries.sort(key=lambda e: float(e["t"]))
        for old in entries[: -self.config.keep_backups]:
            (folder / old["file"]).unlink(missing_ok=True)
        self.state.backups = entries[-self.config.keep_backups :]
        write_json_atomic(folder / BACKUP_INDEX, self.state.backups)
        self._save()
        self.emit("backup_taken", file=dest.name, snapshot_t=snap.t, seq=snap.seq)
        return backup

    def run(self, stop: threading.Event) -> None:
        """Sync every `standby_interval_s`, back up every `backup_interval_s`, until `stop`."""
        self.emit("replicator_started", pid=os.getpid(), primary=str(self.config.primary))
        next_backup = time.monotonic()
        try:
            while not stop.is_set():
                started = time.monotonic()
                snap = self.sync_once()
                if snap is not None and started >= next_backup:
                    try:
                        self.backup_once(snap)
                        next_backup = started + self.config.backup_interval_s
                    except ReplicationError as exc:
                        self.emit("backup_failed", error=str(exc))
                elapsed = time.monotonic() - started
                stop.wait(max(0.0, self.config.standby_interval_s - elapsed))
        finally:
            self.emit("replicator_stopped", pid=os.getpid())

    def _save(self) -> None:
        write_json_atomic(self.config.data_dir / STATE, asdict(self.state) | {"schema": 1})


def read_state(data_dir: Path) -> StandbyState:
    """The replicator's last recorded state (empty before its first sync)."""
    path = data_dir / STATE
    if not path.is_file():
        return StandbyState()
    data = read_json(path)
    known = set(StandbyState.__dataclass_fields__)
    return StandbyState(**{k: v for k, v in data.items() if k in known})


def list_backups(data_dir: Path) -> list[Snapshot]:
    """Backups on disk, oldest first, from `backups/index.json`."""
    index = data_dir / BACKUPS / BACKUP_INDEX
    if not index.is_file():
        return []
    out = []
    for entry in read_json(index):
        path = data_dir / BACKUPS / str(entry["file"])
        if path.is_file():
            seq = entry.get("seq")
            out.append(Snapshot(path, float(entry["t"]), seq, int(entry["size_bytes"])))
    return out


def restore_live(data_dir: Path, source: Path) -> RestoreResult:
    """Copy `source` into the live primary in one transaction (see the module docstring)."""
    primary = data_dir / PRIMARY
    started = time.time()
    if integrity_check(source) != "ok":
        raise ReplicationError(f"{source} fails integrity_check; not restoring from it")
    replaced: list[int | None] = []

    def count_replaced(status: int, remaining: int, total: int) -> None:
        # After the first step that succeeded (and did not finish) the copy holds the
        # primary's write lock until it commits: no write can land any more, and another
        # connection still reads the last committed state, the one being replaced.
        if not replaced and status == sqlite3.SQLITE_OK and remaining > 0:
            replaced.append(_committed_seq(primary))

    try:
        src = _connect(source, read_only=True)
        dst = sqlite3.connect(f"file:{primary.resolve()}?mode=rw", uri=True, timeout=10.0)
        try:
            pages = int(src.execute("PRAGMA page_count").fetchone()[0])
            src.backup(dst, pages=max(1, pages - 1), progress=count_replaced)
            seq = _max_seq(dst)
        finally:
            src.close()
            dst.close()
    except sqlite3.Error as exc:
        raise ReplicationError(f"cannot restore {source} into the live {primary}: {exc}") from exc
    done = time.time()
    return RestoreResult(source, "live", started, done, seq, replaced[0] if replaced else None)


def _committed_seq(path: Path) -> int | None:
    """The last write seq committed in the database at `path`, None when unreadable."""
    try:
        conn = _connect(path, read_only=True)
        try:
            return _max_seq(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def replace_primary(data_dir: Path, source: Path) -> RestoreResult:
    """Install a copy of `source` as the primary, by rename. No process may have it open."""
    primary = data_dir / PRIMARY
    started = time.time()
    staged = data_dir / f".{PRIMARY}.restore"
    snap = copy_database(source, staged, journal_mode="wal")
    replaced_seq = _committed_seq(primary) if primary.is_file() else None  # no writer is left
    for stale in (Path(f"{primary}-wal"), Path(f"{primary}-shm"), Path(f"{primary}-journal")):
        stale.unlink(missing_ok=True)  # a stale WAL would be replayed onto the new file
    os.replace(staged, primary)
    _fsync_dir(data_dir)
    return RestoreResult(source, "offline", started, time.time(), snap.seq, replaced_seq)


def promote_standby(data_dir: Path, *, offline: bool = False) -> RestoreResult:
    """Make the standby's data the primary's: live by default, by rename with `offline`."""
    standby = data_dir / STANDBY
    if not standby.is_file():
        raise ReplicationError(f"no standby at {standby}")
    return replace_primary(data_dir, standby) if offline else restore_live(data_dir, standby)


def restore_backup(
    data_dir: Path, backup: Path | None = None, *, offline: bool = False
) -> RestoreResult:
    """Restore the primary from `backup` (default: the newest one that passes integrity_check)."""
    if backup is None:
        good = [b.path for b in reversed(list_backups(data_dir)) if integrity_check(b.path) == "ok"]
        if not good:
            raise ReplicationError(f"no intact backup in {data_dir / BACKUPS}")
        backup = good[0]
    return replace_primary(data_dir, backup) if offline else restore_live(data_dir, backup)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m harness.service.replication --data-dir DIR`: run a replicator until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m harness.service.replication")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--standby-interval-s", type=float, default=1.0)
    parser.add_argument("--backup-interval-s", type=float, default=30.0)
    parser.add_argument("--keep-backups", type=int, default=5)
    args = parser.parse_args(argv)
    config = ReplicationConfig(
        args.data_dir, args.standby_interval_s, args.backup_interval_s, args.keep_backups
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Replicator(config).run(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
