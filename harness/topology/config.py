"""The reference deployment's shape: one frozen value, validated where it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.service import replication
from harness.service.config import DEFAULT_SEED_ITEMS, MAX_SEED_ITEMS
from harness.topology.front_door import FRONT_DOORS, resolve_front_door
from harness.topology.postgres.config import PgClusterConfig
from harness.topology.region import region_names
from harness.topology.router import HealthCheck

DATABASES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class DeploymentConfig:
    """The deployment's shape; validated at construction (ConfigError names the field)."""

    data_dir: Path
    regions: int = 2
    processes_per_region: int = 1
    standby_interval_s: float = 1.0
    backup_interval_s: float = 30.0
    keep_backups: int = 5
    seed_items: int = DEFAULT_SEED_ITEMS
    router_port: int = 0
    failback: bool = True
    health: HealthCheck = field(default_factory=HealthCheck)
    ready_timeout_s: float = 60.0
    database: str = "sqlite"
    synchronous_replication: bool = False
    replication_lag_ms: int = 0
    patroni_ttl_s: int = 10
    front_door: str = "auto"

    def __post_init__(self) -> None:
        region_names(self.regions)
        if not 1 <= self.processes_per_region <= 16:
            raise ConfigError("expected 1..16", "processes_per_region")
        if not 0 <= self.seed_items <= MAX_SEED_ITEMS:
            raise ConfigError(f"expected 0..{MAX_SEED_ITEMS}", "seed_items")
        if not 0 <= self.router_port <= 65535:
            raise ConfigError("expected a port in 0..65535", "router_port")
        self.replication  # noqa: B018 - validates the intervals
        if self.database not in DATABASES:
            raise ConfigError(f"expected one of {', '.join(DATABASES)}, got {self.database!r}",
                              "database")  # fmt: skip
        if not 0 <= self.replication_lag_ms <= 60_000:
            raise ConfigError("expected 0..60000", "replication_lag_ms")
        if self.front_door not in FRONT_DOORS:
            raise ConfigError(f"expected one of {', '.join(FRONT_DOORS)}, got {self.front_door!r}",
                              "front_door")  # fmt: skip
        resolve_front_door(self.front_door)  # `haproxy` without the binary: bad input
        if self.database == "postgresql":
            from harness.topology.postgres.host import find_binaries

            find_binaries(self.postgres.bin_dir)  # bad input: nothing may start without them

    @property
    def postgres(self) -> PgClusterConfig:
        """The PostgreSQL cluster's configuration (`database = "postgresql"`).

        retry_timeout follows the ttl (Patroni needs loop_wait + 2 * retry_timeout <= ttl).
        """
        ttl_s = self.patroni_ttl_s
        return PgClusterConfig(
            self.data_dir, synchronous=self.synchronous_replication, ttl_s=ttl_s,
            retry_timeout_s=max(1, min(ttl_s // 2 - 1, 10)),
            ready_timeout_s=max(self.ready_timeout_s, 120.0),
        )  # fmt: skip

    @property
    def replication(self) -> replication.ReplicationConfig:
        """The replicator's configuration."""
        return replication.ReplicationConfig(
            self.data_dir, self.standby_interval_s, self.backup_interval_s, self.keep_backups
        )
