"""The `patroni_failover` fault: the leader of the reference deployment's PostgreSQL cluster
is lost as a machine would be, and Patroni, not the harness, promotes a replica.

    [deployment]
    database = "postgresql"
    replication_lag_ms = 1000        # async: the replica trails the leader by ~1 s
    [fault]
    type = "patroni_failover"
    params = { rejoin = true }

Injection records the leader and how far each replica trails it (bytes of WAL not yet
replayed), cuts the leader's replication link (the bytes still in flight are dropped with
it), and SIGKILLs its Patroni and every PostgreSQL process. The services keep their single
DSN: HAProxy sends new connections to whichever member answers Patroni's `/primary`. A
watcher records Patroni's promotion as an automatic `recovery_action` once the new leader
takes writes through HAProxy. Clear (with `rejoin`, the default) starts the lost member
again: it rejoins as a replica, rewound by pg_rewind past the writes it had alone.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from harness.errors import RunFailed
from harness.faults.base import FaultContext, FaultError
from harness.toml_table import Table


def require_cluster(ctx: FaultContext, what: str) -> Any:
    """The deployment's PostgreSQL cluster, or FaultError naming what is missing."""
    cluster = getattr(ctx.deployment, "pg", None)
    if cluster is None:
        raise FaultError(what, 'needs the reference deployment with database = "postgresql"')
    return cluster


class PatroniFailoverFault:
    """Lose the cluster's leader; Patroni promotes a replica (see the module docstring)."""

    type = "patroni_failover"

    def __init__(self, rejoin: bool = True, promote_timeout_s: float = 120.0) -> None:
        self.rejoin = rejoin
        self.promote_timeout_s = promote_timeout_s
        self.lost: str | None = None
        self._watcher: threading.Thread | None = None

    @classmethod
    def from_params(cls, params: Table) -> PatroniFailoverFault:
        """`rejoin` (true): start the lost member again at clear; `promote_timeout_s` (120):
        how long the watcher waits for Patroni's new leader."""
        return cls(
            rejoin=params.boolean("rejoin", True),
            promote_timeout_s=params.number("promote_timeout_s", 120.0, low=5.0, high=600.0),
        )

    def describe(self) -> str:
        """One line."""
        then = "; it rejoins as a replica at clear" if self.rejoin else ""
        return (
            "patroni_failover: the leader's link cut and its Patroni and PostgreSQL SIGKILLed; "
            f"Patroni promotes a replica{then}"
        )

    def inject(self, ctx: FaultContext) -> None:
        """Lose the leader; start the watcher of Patroni's promotion."""
        cluster = require_cluster(ctx, self.type)
        leader = cluster.leader()
        if leader is None:
            raise FaultError(self.type, "the cluster has no leader to lose")
        lag = cluster.replication_lag_bytes()
        pids = cluster.lose_member(leader)
        self.lost = leader
        ctx.emit("fault_effect", fault=self.type, member=leader, pids=pids,
                 replica_lag_bytes=lag, synchronous=cluster.config.synchronous)  # fmt: skip
        self._watcher = threading.Thread(
            target=self._watch, args=(ctx, cluster, leader, ctx.clock()),
            name="patroni-watcher", daemon=True,
        )  # fmt: skip
        self._watcher.start()

    def _watch(self, ctx: FaultContext, cluster: Any, lost: str, lost_t: float) -> None:
        started = time.monotonic()
        try:
            leader, _ = cluster.wait_leader(self.promote_timeout_s, exclude=lost)
        except RunFailed as exc:
            ctx.emit("recovery_action", action="patroni_promote", ok=False, automatic=True,
                     detail=str(exc), t=ctx.clock(), started_t=lost_t,
                     took_s=round(time.monotonic() - started, 3))  # fmt: skip
            return
        ctx.emit("recovery_action", action="patroni_promote", ok=True, automatic=True,
                 detail=f"Patroni promoted {leader}; HAProxy sends writes to it",
                 t=ctx.clock(), started_t=lost_t, took_s=round(time.monotonic() - started, 3),
                 result={"leader": leader, "lost": lost})  # fmt: skip

    def clear(self, ctx: FaultContext) -> None:
        """Wait for the watcher; with `rejoin`, start the lost member again."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.join(self.promote_timeout_s + 5.0)
        lost, self.lost = self.lost, None
        if lost is None or not self.rejoin:
            return
        cluster = require_cluster(ctx, self.type)
        duration_s = cluster.restart_member(lost)
        ctx.emit("recovery_action", action="patroni_rejoin", ok=True, automatic=True,
                 detail=f"{lost} started again; it rejoins as a replica", t=ctx.clock(),
                 took_s=round(duration_s, 3))  # fmt: skip
