"""The reference deployment as one object: regions, router, replicator, supervisor, state file.

    with Deployment(DeploymentConfig(data_dir), on_event=sink.emit) as dep:
        ... load against dep.url ...
        dep.kill_region_processes("a")          # the supervisor restarts them
        dep.router.add_toxic("timeout", scope="a", name="cut")   # region a cut off

Clients reach the deployment only through the router (`url`). Events (the deployment's own,
the supervisor's, and those the router and the replicator write to their files) go to
`on_event(kind, t=..., **fields)`; see docs/topology.md for the kinds. The processes it runs
are listed in `roster`; how it is described in run.json and deployment.json, in `layout`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ConfigError, RunFailed
from harness.service import replication
from harness.service.server import probe_status
from harness.topology import layout
from harness.topology.config import DeploymentConfig
from harness.topology.events import EventTail
from harness.topology.front_door import HaproxyDoor, resolve_front_door
from harness.topology.processes import MARKER_ENV, marked_processes, wait_for
from harness.topology.region import (
    ServiceInfo,
    pick_fixed_port,
    plan_regions,
    region_names,
)
from harness.topology.roster import FRONT, REPLICATOR, ROUTER, watch_processes
from harness.topology.router import Router
from harness.topology.state import (
    is_running,
    read_deployment_state,
    write_deployment_state,
)
from harness.topology.supervisor import Supervisor

EventSink = Callable[..., None]
__all__ = ["Deployment", "DeploymentConfig", "EventSink"]


class Deployment:
    """Starts, watches, breaks on purpose, and stops the reference deployment."""

    def __init__(
        self, config: DeploymentConfig, on_event: EventSink | None = None, *, owner: str = "library"
    ) -> None:
        self.config = config
        self.data_dir = config.data_dir.resolve()
        self.id = uuid.uuid4().hex[:16]
        self.on_event = on_event
        self.owner = owner
        self.env = {MARKER_ENV: self.id}
        self.slots = plan_regions(region_names(config.regions), config.processes_per_region)
        upstreams = [(s.region, s.host, s.port) for slots in self.slots.values() for s in slots]
        front_door, self._door_notice = resolve_front_door(config.front_door)
        router_port = config.router_port or pick_fixed_port()
        self.door: HaproxyDoor | None = None
        if front_door == "haproxy":  # HAProxy takes the clients' port; the router is behind it
            primary = next(iter(self.slots))
            self.door = HaproxyDoor(router_port, pick_fixed_port(), pick_fixed_port(),
                                    tuple(upstreams), primary, config.health)  # fmt: skip
            router_port = self.door.router_port
        self.router = Router(
            upstreams,
            listen_port=router_port,
            control_port=pick_fixed_port(),
            failback=config.failback,
            health=config.health,
            work_dir=self.data_dir / "router",
            haproxy_admin=None if self.door is None else self.door.admin,
        )
        self.supervisor = Supervisor(self._emit)
        self.supervisor.on_change = self._save_state
        self._tail = EventTail(
            {
                ROUTER: self.data_dir / "router" / "router-events.jsonl",
                REPLICATOR: self.data_dir / replication.EVENTS,
            },
            self._emit,
        )
        self._status = "new"
        self._stopping = False
        self.pg: Any = None  # the PostgreSQL cluster, with database = "postgresql"
        if config.database == "postgresql":
            from harness.topology.postgres.cluster import PgCluster

            self.pg = PgCluster(config.postgres, env=self.env, on_event=self._emit)

    # -- what callers read ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The front door's URL (HAProxy's, or the router's): how clients reach the deployment."""
        return self.router.url if self.door is None else self.door.url

    @property
    def regions(self) -> dict[str, list[ServiceInfo]]:
        """Every region's service processes, with their current pids (None while down)."""
        return {
            region: [
                ServiceInfo(s.name, region, s.port, s.url, self._pid_of(s.name)) for s in slots
            ]
            for region, slots in self.slots.items()
        }

    def pids(self) -> dict[str, int]:
        """Pid of every running process: services by name (`a-0`), `router`, `replicator`."""
        return {
            name: pid for name in self.supervisor.watched if (pid := self._pid_of(name)) is not None
        }

    def describe(self) -> dict[str, Any]:
        """The layout as JSON (for run.json's `topology`): URL, regions and ports, settings."""
        return layout.describe(self)

    @property
    def database(self) -> str:
        """What the services use: "sqlite", or the cluster's DSN (through HAProxy)."""
        return "sqlite" if self.pg is None else str(self.pg.dsn)

    def replication_state(self) -> replication.StandbyState:
        """The standby's last sync time and seq, and the backups (from replication.json)."""
        return replication.read_state(self.data_dir)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Deployment:
        """Start everything and wait until the router and every region are ready."""
        if is_running(read_deployment_state(self.data_dir)):
            raise ConfigError("a deployment is already running here (harness down stops it)",
                              str(self.data_dir))  # fmt: skip
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._status = "starting"
            if self.pg is not None:
                self._start_postgres()
            watch_processes(self)
            services = [s.name for slots in self.slots.values() for s in slots]
            self.supervisor.launch_now(services[0])  # creates and seeds the database once
            self._wait_ready(services[:1], strict=True)
            helpers = [ROUTER] if self.pg is not None else [REPLICATOR, ROUTER]
            doors = [] if self.door is None else [FRONT]
            for name in [*services[1:], *helpers, *doors]:
                self.supervisor.launch_now(name)
            self._wait_ready([*services, ROUTER, *doors], strict=True)
            self._wait_serving(self.config.ready_timeout_s)
            for entry in self.supervisor.watched.values():
                entry.is_ready = True
            self.supervisor.start()
            self._tail.start()
            self._status = "ready"
            self._save_state()
            if self._door_notice:
                self._emit("warning", message=self._door_notice)
        except BaseException:
            self.stop()
            raise
        if self.pg is not None:  # what point-in-time recovery restores from
            from harness.topology.postgres.pitr import take_base_backup

            take_base_backup(self.pg)
        self._emit("topology_started", url=self.url, pids=self.pids(),
                   duration_s=round(time.monotonic() - started, 3))  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop every process this deployment started; idempotent, safe after a failed start."""
        if self._stopping or self._status == "new":
            return
        self._stopping = True
        names = list(self.supervisor.watched)
        self.supervisor.hold(names)
        self.supervisor.stop()
        processes = [e.process for e in self.supervisor.watched.values() if e.process is not None]
        for process in processes:
            if process.returncode is None:
                process.signal(signal.SIGTERM)
        for process in processes:
            process.stop(timeout_s=5.0)
        if self.pg is not None:
            try:
                self.pg.stop()
            except RunFailed as exc:  # the sweep below still kills what is left
                self._emit("warning", message=f"PostgreSQL cluster did not stop cleanly: {exc}")
        for pid in marked_processes(self.id):
            self._kill_stray(pid)
        self._tail.stop()
        self._status = "stopped"
        self._save_state()
        self._emit("topology_stopped")

    def __enter__(self) -> Deployment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults and recovery actions ----------------------------------------------------------

    def kill_region_processes(
        self, region: str, sig: int = signal.SIGKILL, *, restart: bool = True
    ) -> list[int]:
        """Signal every process of `region` (whole process groups); returns the pids.

        With `restart=False` the supervisor keeps them down until `restore(region)`.
        """
        names = self._region_names(region)
        if not restart:
            self.supervisor.hold(names)
        return self.supervisor.kill(names, sig)

    def kill_router(self, sig: int = signal.SIGKILL, *, restart: bool = True) -> list[int]:
        """Signal the router (its toxics are lost); restarted on the same ports unless held."""
        if not restart:
            self.supervisor.hold([ROUTER])
        return self.supervisor.kill([ROUTER], sig)

    def kill_all(self, sig: int = signal.SIGKILL) -> list[int]:
        """A complete outage: every process killed and held down until `cold_start`."""
        names = list(self.supervisor.watched)
        self.supervisor.hold(names)
        pids = self.supervisor.kill([ROUTER, *(n for n in names if n != ROUTER)], sig)
        if self.pg is not None:  # every node and etcd too
            from harness.topology.postgres.outage import kill_cluster

            pids += kill_cluster(self.pg)
        return pids

    def restore(self, *targets: str, timeout_s: float | None = None) -> float:
        """Let held regions or processes (`a`, `a-0`, `router`) run again and wait until they
        are ready; returns the seconds it took."""
        started = time.monotonic()
        names = [n for t in targets for n in self._region_names(t)]
        self.supervisor.release(names)
        self._wait_ready(names, timeout_s=timeout_s)
        return time.monotonic() - started

    def cold_start(self, timeout_s: float | None = None) -> float:
        """Start every process again from what is on disk (after `kill_all`, or killing what
        still runs first); returns the seconds until the router and all regions were ready."""
        names = list(self.supervisor.watched)
        self.supervisor.take_down(names)
        self._emit("cold_start_begun")
        if self.pg is not None:  # the database first: the services' readiness needs it
            from harness.topology.postgres.outage import cold_start_cluster

            cold_start_cluster(self.pg, timeout_s)
            self._save_state()
        started = time.monotonic()
        self.restore(*names, timeout_s=timeout_s)
        # every process answering is not yet clients served: a new router has still to find
        # the regions healthy and put a new HAProxy in step with that
        self._wait_serving(timeout_s if timeout_s is not None else self.config.ready_timeout_s)
        duration_s = time.monotonic() - started
        self._emit("cold_start_done", duration_s=round(duration_s, 3))
        return duration_s

    def promote_standby(self, *, offline: bool | None = None) -> replication.RestoreResult:
        """Make the standby's data the primary's (Database Failover's recovery).

        Live first (the backup API into the running primary, no restart); when the primary
        cannot take that (its first page is gone) or with `offline=True`, the service
        processes are stopped, the file replaced, and the processes started again.
        """
        return self._restore("standby_promoted", replication.promote_standby, offline)

    def restore_backup(
        self, backup: Path | None = None, *, offline: bool | None = None
    ) -> replication.RestoreResult:
        """Restore the primary from a backup (default: the newest intact one)."""

        def action(data_dir: Path, *, offline: bool = False) -> replication.RestoreResult:
            return replication.restore_backup(data_dir, backup, offline=offline)

        return self._restore("backup_restored", action, offline)

    def _restore(
        self, kind: str, action: Callable[..., replication.RestoreResult], offline: bool | None
    ) -> replication.RestoreResult:
        result = None
        if offline is not True:
            try:
                result = action(self.data_dir)
            except replication.ReplicationError as exc:
                if offline is False:
                    raise
                self._emit("warning", message=f"live restore failed, going offline: {exc}")
        if result is None:
            services = [n for n in self.supervisor.watched if n not in (ROUTER, FRONT)]
            self.supervisor.take_down(services)
            try:
                result = action(self.data_dir, offline=True)
            finally:
                self.restore(*services)
        self._emit(kind, mode=result.mode, source=str(result.source), seq=result.seq,
                   duration_s=round(result.done_t - result.started_t, 3))  # fmt: skip
        return result

    # -- internals ----------------------------------------------------------------------------

    def _start_postgres(self) -> None:
        """Start the cluster, the replication links lagged as configured, and record its
        processes so that `harness down` stops them even if this process dies."""
        self.pg.start()
        if self.config.replication_lag_ms:
            for member in self.pg.members.values():
                member.link.add_toxic("latency", name="replication-lag",
                                      latency_ms=self.config.replication_lag_ms)  # fmt: skip
        self._save_state()

    def _wait_serving(self, timeout_s: float) -> None:
        """Wait until the router finds every region healthy, has put the front door in step,
        and a client's `/readyz` through the front door answers 200."""
        self.router.client.wait(
            "every region healthy and the front door in step",
            lambda status: (
                all(r["healthy"] for r in status["regions"].values())
                and (self.door is None or bool(status["front_door"]["servers"]))
            ),
            timeout_s,
        )
        front = urlsplit(self.url)
        host, port = front.hostname or "127.0.0.1", front.port or 80
        wait_for(
            lambda: probe_status(host, port, "/readyz", timeout_s=0.5) == 200,
            timeout_s,
            f"the front door ({self.url}) to serve /readyz",
            interval_s=0.05,
        )

    def _wait_ready(
        self, names: list[str], *, strict: bool = False, timeout_s: float | None = None
    ) -> None:
        limit_s = timeout_s if timeout_s is not None else self.config.ready_timeout_s
        self.supervisor.wait_ready(names, limit_s, strict=strict)

    def _region_names(self, target: str) -> list[str]:
        if target in self.slots:
            return [s.name for s in self.slots[target]]
        if target in self.supervisor.watched:
            return [target]
        raise ConfigError(f"expected a region ({', '.join(self.slots)}) or a process name "
                          f"({', '.join(self.supervisor.watched)}), got {target!r}")  # fmt: skip

    def _pid_of(self, name: str) -> int | None:
        entry = self.supervisor.watched.get(name)
        process = entry.process if entry is not None else None
        return process.pid if process is not None and process.returncode is None else None

    def _save_state(self) -> None:
        with self.supervisor.lock:  # the supervisor thread saves too (on every restart)
            write_deployment_state(self.data_dir, layout.state_record(self, self._status))

    def _kill_stray(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def _emit(self, kind: str, **fields: Any) -> None:
        if self.on_event is None:
            return
        fields.setdefault("t", time.time())
        try:
            self.on_event(kind, **fields)
        except Exception as exc:  # a broken sink must not take the deployment down; say so
            print(f"harness topology: event sink failed on {kind}: {exc}", file=sys.stderr)
