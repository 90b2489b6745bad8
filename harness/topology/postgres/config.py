"""The PostgreSQL cluster's shape and Patroni's timing: one frozen value, validated once.

The defaults fail over in seconds on loopback (measured here: a writable new leader ~10 s
after the leader's Patroni and postmaster were killed, with ttl 10, loop_wait 1,
retry_timeout 4). Patroni requires `loop_wait + 2 * retry_timeout <= ttl`; a shorter ttl
detects a dead leader sooner but demotes a live leader that stalls longer than the ttl (a
slow disk, a GC pause of the DCS), so production clusters keep Patroni's ttl 30.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
MAX_LAG_ON_FAILOVER_BYTES = 1 << 30
"""Patroni refuses to promote a replica lagging more than this; the failover scenario lags
the replication link on purpose and still wants the replica promoted (what it lost is the
measurement), so the default is 1 GiB rather than Patroni's 1 MiB."""


@dataclass(frozen=True)
class PgClusterConfig:
    """One etcd, `nodes` Patroni-managed PostgreSQL nodes, HAProxy in front (loopback only).

    `data_dir` holds everything (see docs/postgresql.md); when the `postgres` user cannot
    traverse it (a checkout under /root), the cluster gets a directory of its own under
    /tmp and says where.
    """

    data_dir: Path
    nodes: int = 2
    synchronous: bool = False
    ttl_s: int = 10
    loop_wait_s: int = 1
    retry_timeout_s: int = 4
    maximum_lag_on_failover_bytes: int = MAX_LAG_ON_FAILOVER_BYTES
    haproxy_port: int = 0
    bin_dir: Path = DEFAULT_BIN_DIR
    archive: bool = True
    ready_timeout_s: float = 120.0
    database: str = "harness"
    user: str = "harness"

    def __post_init__(self) -> None:
        if not 2 <= self.nodes <= 5:
            raise ConfigError("expected 2..5 nodes", "postgresql.nodes")
        if self.loop_wait_s < 1 or self.retry_timeout_s < 1:
            raise ConfigError("loop_wait and retry_timeout must be at least 1 s", "postgresql")
        if self.loop_wait_s + 2 * self.retry_timeout_s > self.ttl_s:
            raise ConfigError(
                f"Patroni needs loop_wait + 2 * retry_timeout <= ttl, got "
                f"{self.loop_wait_s} + 2 * {self.retry_timeout_s} > {self.ttl_s}",
                "postgresql.ttl_s",
            )
        if not 0 <= self.haproxy_port <= 65535:
            raise ConfigError("expected a port in 0..65535", "postgresql.haproxy_port")
        for name in (self.database, self.user):
            if not name.isidentifier() or not name.islower():
                raise ConfigError(f"expected a lower-case identifier, got {name!r}", "postgresql")

    @property
    def node_names(self) -> tuple[str, ...]:
        """`pg0`, `pg1`, ...: the Patroni member names."""
        return tuple(f"pg{index}" for index in range(self.nodes))
