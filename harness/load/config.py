"""The typed configuration of one load run, built once by `harness run` (no Locust here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.load.profiles import Profile

DEFAULT_SEED_ITEMS = 2_000
DEFAULT_EXPECT_WORKERS_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RunConfig:
    """Everything a load run needs; `profile` already rescaled to the run's duration.

    `workers` local worker processes are started; the master waits for `expect_workers`
    in total (more than `workers` when remote `harness worker`s join) for at most
    `expect_workers_timeout_s`. `host` None means: start the reference service.
    """

    profile: Profile
    profile_name: str | None
    workers: int
    expect_workers: int
    expect_workers_timeout_s: float = DEFAULT_EXPECT_WORKERS_TIMEOUT_S
    host: str | None = None
    locustfile: Path | None = None
    out_dir: Path | None = None
    thresholds: tuple[str, ...] = ()
    master_bind_host: str = "127.0.0.1"
    master_bind_port: int = 0
    seed_items: int = DEFAULT_SEED_ITEMS
    service_workers: int = 1
    argv: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        """Planned length of the load."""
        return self.profile.duration_s

    @property
    def all_thresholds(self) -> tuple[str, ...]:
        """The profile's objectives (not Extreme's: it breaks them on purpose), then flags'."""
        own = () if self.profile.extreme is not None else self.profile.objectives.thresholds()
        return tuple(dict.fromkeys((*own, *self.thresholds)))

    def as_json(self) -> dict[str, Any]:
        """The configuration as JSON for run.json's `config`."""
        data = asdict(self)
        data["locustfile"] = str(self.locustfile) if self.locustfile else None
        data["out_dir"] = str(self.out_dir) if self.out_dir else None
        data.pop("argv")
        return data
