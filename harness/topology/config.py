"""The reference deployment's shape: one frozen value, validated where it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.service import replication
from harness.service.config import DEFAULT_SEED_ITEMS, MAX_SEED_ITEMS
from harness.topology.region import region_names
from harness.topology.router import HealthCheck


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

    def __post_init__(self) -> None:
        region_names(self.regions)
        if not 1 <= self.processes_per_region <= 16:
            raise ConfigError("expected 1..16", "processes_per_region")
        if not 0 <= self.seed_items <= MAX_SEED_ITEMS:
            raise ConfigError(f"expected 0..{MAX_SEED_ITEMS}", "seed_items")
        if not 0 <= self.router_port <= 65535:
            raise ConfigError("expected a port in 0..65535", "router_port")
        self.replication  # noqa: B018 - validates the intervals

    @property
    def replication(self) -> replication.ReplicationConfig:
        """The replicator's configuration."""
        return replication.ReplicationConfig(
            self.data_dir, self.standby_interval_s, self.backup_interval_s, self.keep_backups
        )
