"""The scenario model: frozen values built once from a scenario file (see docs/scenarios.md).

A scenario's timeline, in seconds from the start of the load:

    0 ── warmup ── steady check ── fault.at_s ── observe ── cooldown ── end
                                      └ fault.duration_s ┘

`fault.at_s` defaults to `warmup_s + steady_check_s`; the observation lasts at most
`observe_s` after the injection; RTO is measured inside it with a `window_s` window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from harness.aborts import AbortRule
from harness.rundir.scenario import (
    Objectives,
    PercentileLimit,
    Phases,
    Probe,
    SteadyState,
)
from harness.rundir.thresholds import Threshold

__all__ = [
    "EMPTY",
    "FAULT_TYPES",
    "RECOVERY_MODES",
    "DeploymentSpec",
    "FaultSpec",
    "Objectives",
    "PercentileLimit",
    "Phases",
    "Probe",
    "ProfileSpec",
    "Recovery",
    "RecoveryStep",
    "Scenario",
    "SteadyState",
    "Target",
    "thaw",
]

FAULT_TYPES: tuple[str, ...] = (
    "database_failover",
    "api_failure",
    "regional_failure",
    "complete_outage",
    "data_corruption",
    "security_breach",
    "command",
    "http",
    "signal",
    "proxy",
    "process",
    "postgres",
    "patroni_failover",
    "toxiproxy",
    "postgres_corruption",
    "patroni",
)
"""Every fault type a scenario may name: the six DR failures, the generic faults, then the
faults on real infrastructure (harness.faults.infra)."""

RECOVERY_MODES: tuple[str, ...] = ("automatic", "runbook")

EMPTY: Mapping[str, Any] = MappingProxyType({})

TargetKind = Literal["deployment", "url"]
RecoveryMode = Literal["automatic", "runbook"]


@dataclass(frozen=True)
class Target:
    """What the load hits: the reference deployment the runner starts, or a URL."""

    kind: TargetKind = "deployment"
    url: str | None = None


@dataclass(frozen=True)
class DeploymentSpec:
    """The reference deployment a `target = "deployment"` scenario runs against (`[deployment]`).

    Not rescaled by `--duration`: the standby interval is a property of the system under
    test (writes acknowledged after the standby's last sync are lost on failover).
    """

    regions: int = 2
    processes_per_region: int = 1
    seed_items: int = 2_000
    standby_interval_s: float = 1.0
    backup_interval_s: float = 30.0
    keep_backups: int = 5
    database: str = "sqlite"
    synchronous_replication: bool = False
    replication_lag_ms: int = 0
    patroni_ttl_s: int = 10
    front_door: str = "auto"


@dataclass(frozen=True)
class ProfileSpec:
    """The load profile: a profile name, or an inline profile table left to the load engine."""

    name: str | None = "light"
    inline: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FaultSpec:
    """The fault to inject: its type, when (seconds from load start), how long, parameters.

    `at_s` None means "right after the steady check"; `duration_s` None means the fault is
    held until the end of the observation (its rollback still runs then).
    """

    type: str
    at_s: float | None = None
    duration_s: float | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class RecoveryStep:
    """One runbook action the runner performs `after_s` seconds after the injection."""

    action: str
    after_s: float = 0.0
    params: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class Recovery:
    """How the service recovers: by itself (`automatic`) or by runbook steps."""

    mode: RecoveryMode = "automatic"
    steps: tuple[RecoveryStep, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """One disaster-recovery scenario, as loaded from its file."""

    name: str
    fault: FaultSpec
    description: str = ""
    profile: ProfileSpec = field(default_factory=ProfileSpec)
    target: Target = field(default_factory=Target)
    phases: Phases = field(default_factory=Phases)
    steady_state: SteadyState = field(default_factory=SteadyState)
    recovery: Recovery = field(default_factory=Recovery)
    thresholds: tuple[Threshold, ...] = ()
    """The `thresholds` array, parsed (objectives are added by the runner)."""
    aborts: tuple[AbortRule, ...] = ()
    """The thresholds marked `abort_on_fail` (also in `thresholds`): judged live."""
    objectives: Objectives = field(default_factory=Objectives)
    source: str | None = None
    deployment: DeploymentSpec = field(default_factory=DeploymentSpec)
    locustfile: str | None = None
    """The user's own locustfile (absolute; the file's `locustfile` key is relative to it)."""
    readback: Mapping[str, Any] | None = None
    """The `[readback]` table as written (checked by `harness.runner.readback`)."""

    @property
    def inject_at_s(self) -> float:
        """When the fault is injected, in seconds from the start of the load."""
        if self.fault.at_s is not None:
            return self.fault.at_s
        return self.phases.warmup_s + self.phases.steady_check_s

    @property
    def clear_at_s(self) -> float:
        """When the fault is cleared (rolled back), in seconds from the start of the load."""
        held_s = self.fault.duration_s
        if held_s is None:
            held_s = self.phases.observe_s
        return self.inject_at_s + held_s

    @property
    def observe_end_s(self) -> float:
        """When the observation ends at the latest, in seconds from the start of the load."""
        return self.inject_at_s + self.phases.observe_s

    @property
    def duration_s(self) -> float:
        """Total planned length: up to the injection, the observation, the cooldown."""
        return self.observe_end_s + self.phases.cooldown_s


def rescale(scenario: Scenario, total_s: float) -> Scenario:
    """The same scenario stretched or shrunk so that its timeline lasts `total_s` seconds.

    Every point and length on the timeline scales by one factor (phases, `fault.at_s`,
    `fault.duration_s`, each step's `after_s`); the RTO window, the probe's timing and the
    objectives do not. Validation of the result (e.g. observation shorter than the window)
    is the loader's job: call `harness.scenarios.ensure_timeline` on it.
    """
    factor = total_s / scenario.duration_s
    phases = scenario.phases
    fault = scenario.fault
    return replace(
        scenario,
        phases=replace(
            phases,
            warmup_s=phases.warmup_s * factor,
            steady_check_s=phases.steady_check_s * factor,
            observe_s=phases.observe_s * factor,
            cooldown_s=phases.cooldown_s * factor,
        ),
        fault=replace(
            fault,
            at_s=None if fault.at_s is None else fault.at_s * factor,
            duration_s=None if fault.duration_s is None else fault.duration_s * factor,
        ),
        recovery=replace(
            scenario.recovery,
            steps=tuple(
                replace(step, after_s=step.after_s * factor) for step in scenario.recovery.steps
            ),
        ),
    )


def freeze(value: Any) -> Any:
    """A read-only copy of TOML/JSON data: tables become mappings, arrays tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of `freeze`: plain dicts and lists, ready for JSON or TOML."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value
