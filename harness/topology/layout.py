"""A deployment described as JSON, for two readers: run.json's `topology` (a reader of the
run: URLs, regions and ports, settings) and deployment.json's record (`harness down`: every
process running now, who owns the deployment, its status; `harness.topology.state`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from harness.topology.state import this_process

if TYPE_CHECKING:
    from harness.topology.deployment import Deployment


def describe(dep: Deployment) -> dict[str, Any]:
    """run.json's `topology`: URL, front door, regions and ports, settings."""
    config = dep.config
    return {
        "kind": "reference",
        "url": dep.url,
        "front_door": "router" if dep.door is None else "haproxy",
        "router_url": dep.router.url,
        "control": _control(dep),
        "regions": _region_ports(dep),
        "primary_region": next(iter(dep.slots)),
        "failback": config.failback,
        "health": dataclasses.asdict(config.health),
        "standby_interval_s": config.standby_interval_s,
        "backup_interval_s": config.backup_interval_s,
        "keep_backups": config.keep_backups,
        "data_dir": str(dep.data_dir),
        "database": "sqlite" if dep.pg is None else dep.pg.describe(),
    }


def state_record(dep: Deployment, status: str) -> dict[str, Any]:
    """deployment.json's record: the processes running now (services, router, replicator,
    HAProxy, and PostgreSQL's), the owner, and `status`."""
    processes = [
        e.process.record.to_json() | {"role": e.fields.get("role"), "port": e.fields.get("port")}
        for e in dep.supervisor.watched.values()
        if e.process is not None and e.process.returncode is None
    ]
    if dep.pg is not None:
        processes += [p.record.to_json() | {"role": "postgres", "port": None}
                      for p in dep.pg.processes()]  # fmt: skip
    return {
        "id": dep.id, "status": status, "url": dep.url, "control": _control(dep),
        "data_dir": str(dep.data_dir), "owner": this_process(dep.owner),
        "regions": _region_ports(dep), "processes": processes,
        "postgres": None if dep.pg is None else f"127.0.0.1:{dep.pg.haproxy_port}",
    }  # fmt: skip


def _control(dep: Deployment) -> str:
    """The router's control API, host:port."""
    return f"{dep.router.config.listen_host}:{dep.router.control_port}"


def _region_ports(dep: Deployment) -> dict[str, list[int]]:
    return {region: [s.port for s in slots] for region, slots in dep.slots.items()}
