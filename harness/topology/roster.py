"""What a deployment runs: every process, and how its supervisor launches each one and
knows it ready.

On SQLite: the regions' service processes, the replicator (the standby and the backups),
the router and, when HAProxy is the front door, HAProxy. On PostgreSQL, Patroni keeps the
replica, so there is no replicator; the cluster's own processes are `PgCluster`'s.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.topology.processes import spawn
from harness.topology.region import ServiceSlot, launch_service, service_ready

if TYPE_CHECKING:
    from harness.topology.deployment import Deployment

ROUTER = "router"
REPLICATOR = "replicator"
FRONT = "haproxy"


def watch_processes(dep: Deployment) -> None:
    """Register every process of `dep` with its supervisor (nothing starts here)."""
    supervisor = dep.supervisor
    for slots in dep.slots.values():
        for slot in slots:
            supervisor.watch(
                slot.name,
                _launcher(dep, slot),
                lambda slot=slot: service_ready(slot),  # type: ignore[misc]
                role="service", region=slot.region, port=slot.port,
            )  # fmt: skip
    if dep.pg is None:  # with PostgreSQL, Patroni keeps the replica: no SQLite replicator
        rep = dep.config.replication
        command = [sys.executable, "-m", "harness.service.replication", "--data-dir",
                   str(dep.data_dir), "--standby-interval-s", str(rep.standby_interval_s),
                   "--backup-interval-s", str(rep.backup_interval_s),
                   "--keep-backups", str(rep.keep_backups)]  # fmt: skip
        log = dep.data_dir / "logs" / "replicator.log"
        supervisor.watch(REPLICATOR, lambda: spawn(REPLICATOR, command, log, dep.env),
                         lambda: True, role=REPLICATOR)  # fmt: skip
    supervisor.watch(ROUTER, lambda: dep.router.spawn(dep.env), dep.router.is_ready,
                     role=ROUTER)  # fmt: skip
    door = dep.door
    if door is not None:  # the clients' port, restarted on it; the router re-syncs it
        supervisor.watch(FRONT, lambda: door.spawn(dep.data_dir / "haproxy", dep.env),
                         door.is_ready, role=FRONT, port=door.listen_port)  # fmt: skip


def _launcher(dep: Deployment, slot: ServiceSlot) -> Callable[[], Any]:
    return lambda: launch_service(slot, dep.data_dir, dep.config.seed_items, dep.env,
                                  dep.database)  # fmt: skip
