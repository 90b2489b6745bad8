"""Data Corruption: pages of the live database overwritten; found by an integrity check,
repaired by restoring the latest good backup.

Injection picks `pages` pages of the `table` b-tree and its indexes (through SQLite's
`dbstat`; never page 1, so the file still opens and `/readyz` stays green: only requests
that touch a damaged page fail) and overwrites every copy of each (main file and WAL
frames) with random bytes. The replicator's check refuses the corrupted primary, so the
standby and the backups stay good.

Runbook: `integrity_check` (records a `detection` with the findings), `restore_backup`
(the newest backup that passes `PRAGMA integrity_check`, each candidate checked before
use; writes acknowledged after that backup's snapshot are lost, and the result says how
many), `wait_ready`. Clear restores the latest good backup if the primary still fails its
integrity check.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from harness.faults.base import FaultContext, FaultError
from harness.faults.dr.common import (
    PRIMARY_LOCK,
    integrity_problems,
    primary_path,
    probe_database,
    purge_edge_cache,
    require_deployment,
)
from harness.faults.dr.pages import corrupt_table
from harness.service import replication
from harness.toml_table import Table

TARGETS = ("primary", "standby", "backups")
TABLE = "items"


class DataCorruptionFault:
    """Overwrite pages of one table (and its indexes) in the live primary."""

    type = "data_corruption"

    def __init__(
        self, pages: int = 8, include_indexes: bool = True, seed: int | None = None
    ) -> None:
        self.pages = pages
        self.include_indexes = include_indexes
        self.seed = seed
        self._injected = False

    @classmethod
    def from_params(cls, params: Table) -> DataCorruptionFault:
        """`pages` (8), `include_indexes` (true), `seed` (random)."""
        seed = params.integer("seed", 0, low=0) if params.has("seed") else None
        return cls(
            pages=params.integer("pages", 8, low=1, high=100_000),
            include_indexes=params.boolean("include_indexes", True),
            seed=seed,
        )

    def describe(self) -> str:
        """One line: which pages are overwritten."""
        of = "the items table" + (" and its indexes" if self.include_indexes else "")
        return (
            f"data_corruption: {self.pages} pages of {of} overwritten with random bytes "
            "in items.db and its WAL"
        )

    def inject(self, ctx: FaultContext) -> None:
        """Overwrite the pages; record which ones."""
        deployment = require_deployment(ctx, self.type)
        self._injected = True
        try:
            damage = corrupt_table(
                primary_path(deployment),
                TABLE,
                self.pages,
                include_indexes=self.include_indexes,
                seed=self.seed,
            )
        except (OSError, ValueError, sqlite3.Error) as exc:
            raise FaultError(self.type, f"could not corrupt {TABLE}: {exc}") from None
        last = _last_backup(deployment.data_dir)
        ctx.emit(
            "fault_effect",
            fault=self.type,
            pages=list(damage.pages),
            owners={str(k): v for k, v in damage.owners.items()},
            page_size=damage.page_size,
            main_file_copies=damage.main_file_copies,
            wal_frames=damage.wal_frames,
            last_backup_t=last.t if last else None,
            last_backup_seq=last.seq if last else None,
        )

    def clear(self, ctx: FaultContext) -> None:
        """Restore the latest good backup when the primary still fails its integrity check."""
        injected, self._injected = self._injected, False
        if not injected or ctx.deployment is None:
            return
        problems = integrity_problems(primary_path(ctx.deployment), 1)
        if problems:
            ctx.emit(
                "warning",
                message=f"data_corruption: primary still corrupt at clear "
                f"({problems[0]}); restoring the latest backup",
            )
            restore_backup(ctx)


def _last_backup(data_dir: Path) -> replication.Snapshot | None:
    backups = replication.list_backups(Path(data_dir))
    return backups[-1] if backups else None


# -- runbook actions --------------------------------------------------------------------------


def integrity_check(ctx: FaultContext, target: str, max_errors: int) -> dict[str, Any]:
    """`PRAGMA integrity_check` of the primary (or standby, or every backup); a `detection`
    event carries the findings when something is wrong."""
    deployment = require_deployment(ctx, "integrity_check")
    data_dir = Path(deployment.data_dir)
    if target == "primary":
        paths = [primary_path(deployment)]
    elif target == "standby":
        paths = [data_dir / replication.STANDBY]
    else:
        paths = [b.path for b in replication.list_backups(data_dir)]
    findings = {path.name: integrity_problems(path, max_errors) for path in paths}
    bad = {name: problems for name, problems in findings.items() if problems}
    first = next(iter(bad.values()))[0] if bad else ""
    if bad:
        ctx.emit(
            "detection",
            by="integrity_check",
            target=target,
            findings=bad,
            detail=f"{len(bad)} of {len(paths)} file(s) corrupt: {first}",
        )
    verdict = "sound" if not bad else f"corrupt: {first}"
    return {
        "target": target,
        "checked": len(paths),
        "sound": not bad,
        "verdict": verdict,
        "findings": bad,
    }


def restore_backup(
    ctx: FaultContext, path: str | None = None, offline: bool | None = None, purge_cdn: bool = True
) -> dict[str, Any]:
    """Restore the primary from `path`, or from the newest backup that passes an integrity
    check (each candidate is checked before use); purge the edge cache afterwards."""
    deployment = require_deployment(ctx, "restore_backup")
    data_dir = Path(deployment.data_dir)
    chosen, rejected = _newest_intact(data_dir, path)
    primary = primary_path(deployment)
    seq_before = _last_seq(primary)
    with PRIMARY_LOCK:
        if offline is None:
            offline = probe_database(primary) is not None
        result = deployment.restore_backup(chosen.path, offline=offline)
    if purge_cdn:
        purge_edge_cache(data_dir)
    # Writes go on until the restore locks the primary (live) or stops its services
    # (offline), so the seq read before it began misses the writes acknowledged meanwhile;
    # the one the restore read at the moment of replacing is exact when live. Offline, a
    # reopened WAL whose frames the corruption overwrote may end early: keep the larger.
    if result.replaced_seq is not None:
        seq_before = max(seq_before or 0, result.replaced_seq)
    discarded = None if seq_before is None or result.seq is None else seq_before - result.seq
    return {
        "source": chosen.path.name,
        "backup_t": chosen.t,
        "backup_seq": result.seq,
        "mode": result.mode,
        "restore_s": round(result.done_t - result.started_t, 3),
        "rejected": rejected,
        "seq_before": seq_before,
        "writes_discarded": discarded,
        "edge_cache_purged": purge_cdn,
    }


def _newest_intact(data_dir: Path, path: str | None) -> tuple[replication.Snapshot, list[str]]:
    """The backup to restore (`path`, or the newest one that passes an integrity check) and
    the candidates rejected on the way; FaultError when none is intact."""
    candidates = replication.list_backups(data_dir)
    if path is not None:
        wanted = Path(path) if Path(path).is_absolute() else data_dir / replication.BACKUPS / path
        listed = [b for b in candidates if b.path == wanted]
        candidates = listed or [replication.Snapshot(wanted, 0.0, None, 0)]
    rejected: list[str] = []
    for backup in reversed(candidates):
        problems = integrity_problems(backup.path, 1)
        if not problems:
            return backup, rejected
        rejected.append(f"{backup.path.name}: {problems[0]}")
    why = f"; rejected: {'; '.join(rejected)}" if rejected else ""
    raise FaultError("restore_backup", f"no intact backup in {data_dir / replication.BACKUPS}{why}")


def _last_seq(path: Path) -> int | None:
    """The highest write seq the primary still shows, None when it cannot be read."""
    with PRIMARY_LOCK:
        try:
            conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=2.0)
            try:
                return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM writes").fetchone()[0])
            finally:
                conn.close()
        except sqlite3.Error:
            return None
