"""Regions: groups of reference-service processes behind the router, sharing one database.

Each process is `python -m harness serve --port P --workers 1 --data-dir D` with its own fixed
loopback port (kept across restarts, so the router's upstream list never changes). All regions
use the same data dir: one primary `items.db` (SQLite in WAL mode works across processes on one
machine), one signing keyring (a token is valid in every region, so a failover is invisible to
clients' credentials) and one edge-cache state.
"""

from __future__ import annotations

import random
import socket
import string
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.service.config import ENV_DATABASE, ServiceConfig
from harness.service.server import pick_free_port, probe_status, serve_command
from harness.topology.processes import ManagedProcess, spawn

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ServiceSlot:
    """One service process's place in the deployment: name (`a-0`), region, index and port."""

    name: str
    region: str
    index: int
    port: int
    host: str = LOOPBACK

    @property
    def url(self) -> str:
        """The process's own URL (clients go through the router instead)."""
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ServiceInfo:
    """A service process as the deployment reports it: slot, and pid when it is running."""

    name: str
    region: str
    port: int
    url: str
    pid: int | None


def region_names(count: int) -> tuple[str, ...]:
    """`a`, `b`, ... for `count` regions (at most 26); the first is the primary."""
    if not 1 <= count <= 26:
        raise ConfigError(f"expected 1..26 regions, got {count}", "regions")
    return tuple(string.ascii_lowercase[:count])


def plan_regions(
    names: tuple[str, ...], processes_per_region: int, host: str = LOOPBACK
) -> dict[str, tuple[ServiceSlot, ...]]:
    """A free loopback port for every process of every region."""
    if not 1 <= processes_per_region <= 16:
        raise ConfigError(f"expected 1..16, got {processes_per_region}", "processes_per_region")
    return {
        region: tuple(
            ServiceSlot(f"{region}-{index}", region, index, pick_fixed_port(host), host)
            for index in range(processes_per_region)
        )
        for region in names
    }


def pick_fixed_port(host: str = LOOPBACK, attempts: int = 50) -> int:
    """A free port below the kernel's ephemeral range, for a process restarted on the same
    port: while it is down, an outgoing connection could otherwise take its port as a local
    ephemeral one and block the restart. Falls back to any free port."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    rng = random.SystemRandom()
    for _ in range(attempts if low > 12000 else 0):
        port = rng.randrange(10000, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    return pick_free_port(host)


def service_config(
    slot: ServiceSlot, data_dir: Path, seed_items: int, database: str = "sqlite"
) -> ServiceConfig:
    """The service configuration of one slot (`database`: "sqlite" or a postgresql:// DSN)."""
    return ServiceConfig(
        host=slot.host, port=slot.port, workers=1, data_dir=data_dir, seed_items=seed_items,
        database=database,
    )  # fmt: skip


def launch_service(
    slot: ServiceSlot, data_dir: Path, seed_items: int, env: dict[str, str],
    database: str = "sqlite",
) -> ManagedProcess:  # fmt: skip
    """Start one service process (not waiting for it); output goes to `logs/<name>.log`.
    The DSN travels in the environment, never on the command line."""
    config = service_config(slot, data_dir, seed_items, database)
    env = {**env, ENV_DATABASE: database}
    return spawn(slot.name, serve_command(config), data_dir / "logs" / f"{slot.name}.log", env=env)


def service_ready(slot: ServiceSlot, timeout_s: float = 0.25) -> bool:
    """True when the process's /readyz answers 200 (its storage included)."""
    return probe_status(slot.host, slot.port, "/readyz", timeout_s=timeout_s) == 200
