"""Database Failover: the primary database is lost under the running service, and the
standby takes over.

Injection overwrites every byte of `items.db` and its WAL with random bytes, in place, so
the processes that have them open get "file is not a database" at their next read from the
file: SQLite survives an unlink or a chmod, so neither would count, and an emptied file
would be a valid empty database (one the replicator would copy). A process whose page
cache is still valid answers from it until its connection is dropped (its readiness check
reads the header from the file and fails at once; the router checks every 250 ms). The
standby is
untouched (the replicator verifies each copy, so it refuses the destroyed primary), and
writes acknowledged after its last sync are lost for real: `fault_effect` records the
replicator's `last_sync_t` and `last_sync_seq` at injection.

With `auto_promote` (the default, the scenario's automatic recovery) a watcher probes the
primary every `probe_interval_s`; after `failures_to_promote` failed probes in a row it
records a `detection` and promotes the standby (`Deployment.promote_standby`), recorded
as an automatic `recovery_action`. In runbook mode (`auto_promote = false`) the runbook's
`promote_standby` action does it. Clear stops the watcher and, if the primary is still
lost, promotes the standby: a rollback leaves a working deployment.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from harness.faults.base import FaultContext, FaultError
from harness.faults.dr.common import (
    PRIMARY_LOCK,
    primary_path,
    probe_database,
    purge_edge_cache,
    require_deployment,
)
from harness.faults.dr.pages import destroy_files
from harness.toml_table import Table

METHODS = ("destroy_pages",)
WATCH_LIMIT_S = 600.0
"""The watcher stops by itself after this long, even if nothing clears the fault."""


class DatabaseFailoverFault:
    """Destroy the primary database under the running service; promote the standby."""

    type = "database_failover"

    def __init__(
        self,
        method: str = "destroy_pages",
        auto_promote: bool = True,
        probe_interval_s: float = 0.25,
        failures_to_promote: int = 2,
    ) -> None:
        self.method = method
        self.auto_promote = auto_promote
        self.probe_interval_s = probe_interval_s
        self.failures_to_promote = failures_to_promote
        self._watcher: PrimaryWatcher | None = None

    @classmethod
    def from_params(cls, params: Table) -> DatabaseFailoverFault:
        """`method` (destroy_pages, the only one), `auto_promote` (true), `probe_interval_s`
        (0.25), `failures_to_promote` (2)."""
        return cls(
            method=params.choice("method", METHODS, "destroy_pages"),
            auto_promote=params.boolean("auto_promote", True),
            probe_interval_s=params.number("probe_interval_s", 0.25, low=0.05, high=10.0),
            failures_to_promote=params.integer("failures_to_promote", 2, low=1, high=100),
        )

    def describe(self) -> str:
        """One line: how the primary is lost and how the standby takes over."""
        how = "every page of items.db and its WAL overwritten with random bytes"
        then = (
            f"standby promoted after {self.failures_to_promote} failed probes "
            f"{self.probe_interval_s:g}s apart"
            if self.auto_promote
            else "standby promoted by the runbook"
        )
        return f"database_failover: {how} under the running service; {then}"

    def inject(self, ctx: FaultContext) -> None:
        """Destroy the primary's files, then start the watcher (with `auto_promote`)."""
        deployment = require_deployment(ctx, self.type)
        standby = deployment.replication_state()
        if standby.last_sync_t is None:
            raise FaultError(
                self.type, "the standby has never been synced; nothing to fail over to"
            )
        damage = destroy_files(primary_path(deployment))
        ctx.emit(
            "fault_effect",
            fault=self.type,
            method=damage.how,
            bytes_by_file=damage.bytes_by_file,
            standby_last_sync_t=standby.last_sync_t,
            standby_last_sync_seq=standby.last_sync_seq,
        )
        if self.auto_promote:
            self._watcher = PrimaryWatcher(ctx, self.probe_interval_s, self.failures_to_promote)
            self._watcher.start()

    def clear(self, ctx: FaultContext) -> None:
        """Stop the watcher; promote the standby if the primary is still lost."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        if ctx.deployment is None:
            return
        problem = probe_database(primary_path(ctx.deployment))
        if problem is not None:
            ctx.emit(
                "warning",
                message=f"database_failover: primary still lost at clear "
                f"({problem}); promoting the standby",
            )
            promote_standby(ctx)


class PrimaryWatcher:
    """Probes the primary; after enough failures in a row, promotes the standby once."""

    def __init__(self, ctx: FaultContext, interval_s: float, failures_to_promote: int) -> None:
        self.ctx = ctx
        self.interval_s = interval_s
        self.failures_to_promote = failures_to_promote
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="primary-watcher", daemon=True)

    def start(self) -> None:
        """Start probing in a background thread."""
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop probing; waits for a promotion under way to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # loud: the timeline says the automatic recovery broke
            self.ctx.emit("error", message=f"primary watcher: {type(exc).__name__}: {exc}")

    def _watch(self) -> None:
        from harness.faults.runbook import ActionFailed, run_action

        path = primary_path(self.ctx.deployment)
        failures, deadline = 0, time.monotonic() + WATCH_LIMIT_S
        while not self._stop.is_set() and time.monotonic() < deadline:
            problem = probe_database(path)
            failures = failures + 1 if problem is not None else 0
            if failures >= self.failures_to_promote:
                self.ctx.emit(
                    "detection",
                    fault="database_failover",
                    by="primary_probe",
                    detail=f"primary lost: {problem}",
                    failed_probes=failures,
                )
                try:
                    run_action("promote_standby", {}, self.ctx, automatic=True)
                except ActionFailed:
                    failures = 0  # recorded as a failed recovery_action; probe and try again
                    self._stop.wait(1.0)
                    continue
                return
            self._stop.wait(self.interval_s)


def promote_standby(
    ctx: FaultContext, offline: bool | None = None, purge_cdn: bool = True
) -> dict[str, Any]:
    """Make the standby's data the primary's; purge the edge cache so no lost write is
    served from it.

    Live (the backup API into the running primary) when the primary still answers a probe,
    else offline (service processes stopped, the file replaced, processes started): a
    destroyed or emptied primary cannot take a live restore, and an emptied one would
    accept it in the wrong journal mode. `offline` forces one way.
    """
    deployment = require_deployment(ctx, "promote_standby")
    standby = deployment.replication_state()
    with PRIMARY_LOCK:
        if offline is None:
            offline = probe_database(primary_path(deployment)) is not None
        result = deployment.promote_standby(offline=offline)
    if purge_cdn:
        purge_edge_cache(deployment.data_dir)
    return {
        "mode": result.mode,
        "source": str(result.source),
        "seq": result.seq,
        "standby_last_sync_t": standby.last_sync_t,
        "standby_last_sync_seq": standby.last_sync_seq,
        "restore_s": round(result.done_t - result.started_t, 3),
        "edge_cache_purged": purge_cdn,
    }
