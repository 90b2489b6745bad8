"""The `postgres_corruption` fault and its runbook actions: a table's relation file is
corrupted on the leader's disk, PostgreSQL's data checksums find it, and point-in-time
recovery (base backup + WAL archive, replayed to just before the damage) repairs it.

    [fault]
    type = "postgres_corruption"
    params = { relation = "items", pages = 4 }
    [[recovery.steps]]
    action = "checksum_check"          # scans the table: the checksum failures it meets
    [[recovery.steps]]
    action = "pitr_restore"            # restore the base backup, replay to before the fault

Injection takes no shortcut: the pages are overwritten in the file PostgreSQL serves from
(see `harness.topology.postgres.pitr.corrupt_relation`). Writes acknowledged after the
damage are lost by the restore, which is what the RPO reports. Clear restores too when the
runbook did not (a rollback leaves a working cluster).
"""

from __future__ import annotations

from typing import Any

import psycopg

from harness.faults.base import FaultContext, FaultError
from harness.faults.infra.patroni import require_cluster
from harness.toml_table import Table


class PostgresCorruptionFault:
    """Corrupt pages of a relation on the leader (see the module docstring)."""

    type = "postgres_corruption"

    def __init__(self, relation: str = "items", pages: int = 4) -> None:
        self.relation = relation
        self.pages = pages

    @classmethod
    def from_params(cls, params: Table) -> PostgresCorruptionFault:
        """`relation` (items), `pages` (4)."""
        relation = params.string("relation", "items")
        if not relation.replace("_", "").isalnum():
            raise params.error(f"expected a table name, got {relation!r}", "relation")
        return cls(relation=relation, pages=params.integer("pages", 4, low=1, high=10_000))

    def describe(self) -> str:
        """One line."""
        return (
            f"postgres_corruption: {self.pages} pages of {self.relation}'s relation file "
            "overwritten on the leader; found by data checksums"
        )

    def inject(self, ctx: FaultContext) -> None:
        """Corrupt the file and restart the leader's PostgreSQL (reads come from disk)."""
        from harness.topology.postgres.pitr import corrupt_relation

        cluster = require_cluster(ctx, self.type)
        if not (cluster.directory / "basebackup").is_dir():
            raise FaultError(self.type, "no base backup: nothing could repair the damage")
        damage = corrupt_relation(cluster, self.relation, self.pages)
        cluster.damaged_t = damage.t
        ctx.emit("fault_effect", fault=self.type, relation=damage.relation, file=damage.path,
                 pages=list(damage.pages), damaged_t=damage.t)  # fmt: skip

    def clear(self, ctx: FaultContext) -> None:
        """Restore to before the damage unless the runbook already did."""
        cluster = getattr(ctx.deployment, "pg", None)
        if cluster is None or getattr(cluster, "damaged_t", None) is None:
            return
        ctx.emit("warning", message="postgres_corruption: not restored by the runbook; "
                 "restoring at clear")  # fmt: skip
        pitr_restore(ctx)


def checksum_check(ctx: FaultContext, relation: str = "items") -> dict[str, Any]:
    """Read every page of `relation` on the leader; the checksum failures PostgreSQL met."""
    from harness.topology.postgres.pitr import checksum_failures
    from harness.topology.postgres.sql import connect

    cluster = require_cluster(ctx, "checksum_check")
    leader = cluster.leader()
    if leader is None:
        raise FaultError("checksum_check", "no leader to check")
    error = None
    try:
        with connect(cluster.member_dsn(leader, cluster.config.database)) as conn:
            conn.execute(f"select count(*) from {relation}".encode())  # a checked identifier
    except psycopg.Error as exc:
        error = str(exc).splitlines()[0]
    failures = checksum_failures(cluster)
    return {"relation": relation, "checksum_failures": failures,
            "verdict": "corrupt" if error or failures else "ok", "error": error}  # fmt: skip


def pitr_restore(ctx: FaultContext, timeout_s: float = 180.0) -> dict[str, Any]:
    """Point-in-time recovery to just before the damage (base backup + WAL archive)."""
    from harness.topology.postgres.pitr import restore_to

    cluster = require_cluster(ctx, "pitr_restore")
    damaged_t = getattr(cluster, "damaged_t", None)
    if damaged_t is None:
        raise FaultError("pitr_restore", "no damage recorded: nothing to restore to")
    result = restore_to(cluster, damaged_t, timeout_s)
    cluster.damaged_t = None
    return result
