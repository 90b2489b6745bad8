"""The typed configuration of one load run, built once by `harness run` (no Locust here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.aborts import AbortPlan
from harness.load.cluster import ClusterSecret
from harness.load.journal import Manifest
from harness.load.profiles import Profile
from harness.redaction import redact_url
from harness.rundir.thresholds import Threshold, expressions, unique

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
    thresholds: tuple[Threshold, ...] = ()
    """`--threshold`, parsed."""
    master_bind_host: str = "127.0.0.1"
    master_bind_port: int = 0
    seed_items: int = DEFAULT_SEED_ITEMS
    service_workers: int = 1
    argv: tuple[str, ...] = ()
    # -- set by the scenario runner (harness.runner), which controls its `host` target --
    tokens: Mapping[str, str] | None = None
    """Bearer tokens by role for a `host` target (over HARNESS_TOKEN_*); never in run.json."""
    item_ids: tuple[int, ...] | None = None
    """Readable item ids of a `host` target (None: discovered by the users)."""
    kind: str = "run"
    """run.json `kind`: `run`, or `scenario` (then the profile's objectives are not thresholds:
    the scenario's own thresholds are)."""
    scenario_name: str | None = None
    scenario: Mapping[str, Any] | None = None
    """run.json `config.scenario`: the scenario as `scenario_to_dict` wrote it."""
    topology: Mapping[str, Any] | None = None
    """run.json `topology`: the reference deployment's layout."""
    out_dir_prepared: bool = False
    """`out_dir` was created by the caller and may already hold its files (a deployment)."""
    cluster_secret: ClusterSecret | None = None
    """The workers' shared secret; None: one generated for this run's local workers."""
    metrics_bind: tuple[str, int] | None = None
    """Where the master serves Prometheus metrics during the run (None: nowhere)."""
    abort: AbortPlan = field(default_factory=AbortPlan)
    """What stops the run early: `abort_on_fail` thresholds and the error budget."""
    locustfile_shape_limit_s: float | None = None
    profile_dsn: str | None = None
    """A PostgreSQL whose pg_stat_statements is profiled over the window (docs/profiling.md)."""
    apply_indexes: bool = False
    """Create the verified recommended indexes in the live database (service's or DSN's)."""
    """Set when neither a profile nor `--users` was given: a `LoadTestShape` in the
    locustfile then drives the run, stopped after this many seconds at the latest. None:
    the profile drives, and a shape in the locustfile is a conflict."""

    service_pids: Callable[[], Mapping[str, int]] | None = None
    """The reference deployment's service processes by name, asked at each memory sample
    (a plain function: `as_json` leaves it out); None: only an embedded service's."""

    @property
    def duration_s(self) -> float:
        """Planned length of the load."""
        return self.profile.duration_s

    @property
    def all_thresholds(self) -> tuple[Threshold, ...]:
        """The profile's objectives (not Extreme's: it breaks them on purpose) and its own
        thresholds, then the flags'."""
        if self.kind == "scenario":  # the scenario's own thresholds are in `thresholds`
            own: tuple[Threshold, ...] = ()
        elif self.profile.extreme is not None:
            own = self.profile.thresholds
        else:
            own = (*self.profile.objectives.thresholds(), *self.profile.thresholds)
        return tuple(unique((*own, *self.thresholds)))

    def as_json(self) -> dict[str, Any]:
        """The configuration as JSON for run.json's `config`."""
        data = asdict(self)
        data["locustfile"] = str(self.locustfile) if self.locustfile else None
        data["out_dir"] = str(self.out_dir) if self.out_dir else None
        data["thresholds"] = expressions(self.thresholds)
        data["profile"]["thresholds"] = expressions(self.profile.thresholds)
        for rule in data["abort"]["rules"]:
            rule.pop("threshold")  # the parsed form of its `expr`
        data.pop("argv")
        data["tokens"] = sorted(self.tokens) if self.tokens else None  # roles, never secrets
        data["item_ids"] = None if self.item_ids is None else len(self.item_ids)
        # where the secret came from, never the secret
        data["cluster_secret"] = self.cluster_secret.source if self.cluster_secret else "generated"
        data["metrics_bind"] = list(self.metrics_bind) if self.metrics_bind else None
        data["profile_dsn"] = redact_url(self.profile_dsn) if self.profile_dsn else None
        for key in ("kind", "scenario_name", "topology", "out_dir_prepared", "service_pids"):
            data.pop(key)  # manifest fields of their own, or nothing a reader needs
        if self.scenario is None:
            data.pop("scenario")
        else:
            data["scenario"] = dict(self.scenario)
        return data

    def manifest(self, run_id: str) -> Manifest:
        """run.json's fields for a run of this configuration (`target` stays empty for an
        embedded service until its URL is known)."""
        return Manifest(
            run_id=run_id,
            target=self.host or "",
            embedded_service=self.host is None,
            workers_expected=self.expect_workers,
            config=self.as_json(),
            thresholds=expressions(self.all_thresholds),
            planned_duration_s=self.duration_s,
            profile=self.profile_name,
            argv=list(self.argv),
            kind=self.kind,
            scenario=self.scenario_name,
            topology=dict(self.topology) if self.topology is not None else None,
        )
