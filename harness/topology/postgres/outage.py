"""A complete outage of the cluster and its cold start: every process killed at once, then
everything started again from what is on disk (etcd's data, each node's PGDATA and WAL)."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

from harness.topology.processes import wait_for

if TYPE_CHECKING:
    from harness.topology.postgres.cluster import PgCluster


def kill_cluster(cluster: PgCluster) -> list[int]:
    """A complete outage: HAProxy, every member (Patroni and PostgreSQL) and etcd
    SIGKILLed at once; nothing restarts until `cold_start`."""
    pids: list[int] = []
    for process in (cluster.haproxy, cluster.etcd):
        if process is not None and process.poll() is None:
            process.signal(signal.SIGKILL)
            pids.append(process.pid)
    for name, member in cluster.members.items():
        cluster.lost.add(name)
        pids += member.kill(signal.SIGKILL)
    for member in cluster.members.values():
        wait_for(lambda m=member: m.postmaster_pid() is None, 10.0,  # type: ignore[misc]
                 f"{member.name}'s postmaster to die")  # fmt: skip
    cluster.emit("postgres_killed", pids=pids)
    return pids


def cold_start_cluster(cluster: PgCluster, timeout_s: float | None = None) -> float:
    """Start etcd, every member and HAProxy again from what is on disk; returns the
    seconds until a leader took writes through HAProxy."""
    started = time.monotonic()
    limit_s = timeout_s if timeout_s is not None else cluster.config.ready_timeout_s
    for process in (cluster.haproxy, cluster.etcd):
        if process is not None:
            process.stop(5.0)
    for member in cluster.members.values():
        member.stop(5.0)
        for toxic in member.link.list_toxics():
            if toxic["name"] == "member-lost":
                member.link.remove_toxic("member-lost")
    cluster.start_etcd_process()
    for member in cluster.members.values():
        member.start()
    cluster.lost.clear()
    cluster.start_haproxy(limit_s)
    cluster.wait_leader(limit_s)
    duration_s = time.monotonic() - started
    cluster.emit("postgres_cold_started", leader=cluster.leader(),
                 duration_s=round(duration_s, 3))  # fmt: skip
    return duration_s
