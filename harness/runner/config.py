"""A scenario run's typed configuration, and every check made before anything starts.

`prepare_scenario(path, ...)` loads the file (rescaled by `--duration`), builds its fault,
checks its runbook, its profile and its deployment, and parses every threshold: a bad
scenario is a ConfigError (exit 2) naming the file and the key before any process starts.
No Locust here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.aborts import AbortPlan, AbortRule
from harness.errors import ConfigError
from harness.faults import Fault, build_fault
from harness.load.cluster import ClusterSecret
from harness.rundir.thresholds import Threshold, as_thresholds, parse_thresholds, unique
from harness.scenarios import Scenario, load_scenario
from harness.scenarios.model import FAULT_TYPES

DR_FAULT_TYPES = FAULT_TYPES[:6]
"""The six disaster-recovery faults: they act on the reference deployment."""

DEFAULT_WORKERS = 1
DEFAULT_READBACK_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ScenarioRunConfig:
    """One scenario run: the scenario (already rescaled) and how to run it."""

    scenario: Scenario
    out_dir: Path | None = None
    workers: int = DEFAULT_WORKERS
    thresholds: tuple[Threshold, ...] = ()
    """Extra thresholds (`--threshold`), after the scenario's own and its objectives'."""
    readback_timeout_s: float = DEFAULT_READBACK_TIMEOUT_S
    expect_workers_timeout_s: float = 30.0
    argv: tuple[str, ...] = ()
    locustfile: Path | None = None
    """The user's own users (`--locustfile`, else the scenario's `locustfile`); None: ours."""
    cluster_secret: ClusterSecret | None = None
    """The load workers' shared secret (None: generated for the run)."""
    metrics_bind: tuple[str, int] | None = None
    """Where the master serves the run's Prometheus metrics (None: nowhere)."""
    abort: AbortPlan = field(default_factory=AbortPlan)
    """What stops the run early: the scenario's and the flags' `abort_on_fail` thresholds,
    and `--max-error-budget`."""
    profile_dsn: str | None = None
    """A PostgreSQL profiled through pg_stat_statements (`--profile-dsn`)."""
    apply_indexes: bool = False
    """`--apply-indexes`: create verified recommended indexes in the live database."""

    @property
    def source(self) -> str:
        """The scenario file, for messages."""
        return self.scenario.source or self.scenario.name

    def all_thresholds(self) -> tuple[Threshold, ...]:
        """The thresholds the run is judged on (see `scenario_thresholds`)."""
        return scenario_thresholds(self.scenario, self.thresholds)

    def build_fault(self) -> Fault:
        """A fresh fault object for this run."""
        return build_fault(self.scenario.fault, self.source)


def prepare_scenario(
    path: Path | str,
    *,
    duration_s: float | None = None,
    out_dir: Path | None = None,
    workers: int = DEFAULT_WORKERS,
    thresholds: Sequence[Threshold | str] = (),
    readback_timeout_s: float = DEFAULT_READBACK_TIMEOUT_S,
    argv: Sequence[str] = (),
    locustfile: Path | None = None,
    cluster_secret: ClusterSecret | None = None,
    metrics_bind: tuple[str, int] | None = None,
    flag_aborts: tuple[AbortRule, ...] = (),
    max_error_budget: float | None = None,
) -> ScenarioRunConfig:
    """Load and check a scenario file; ConfigError for anything wrong (nothing started)."""
    scenario = load_scenario(path, duration_s)
    if workers < 1:
        raise ConfigError(f"expected at least 1, got {workers}", "--workers")
    if readback_timeout_s <= 0:
        raise ConfigError(
            f"expected a positive duration, got {readback_timeout_s}", "--readback-timeout"
        )
    config = ScenarioRunConfig(
        scenario=scenario,
        out_dir=out_dir,
        workers=workers,
        thresholds=tuple(as_thresholds(thresholds, "--threshold")),
        readback_timeout_s=readback_timeout_s,
        argv=tuple(argv),
        locustfile=_locustfile(locustfile, scenario),
        cluster_secret=cluster_secret,
        metrics_bind=metrics_bind,
        abort=_abort_plan(scenario, flag_aborts, max_error_budget),
    )
    check_scenario(config)
    return config


def _abort_plan(
    scenario: Scenario, flag_aborts: tuple[AbortRule, ...], max_error_budget: float | None
) -> AbortPlan:
    """The scenario's `abort_on_fail` thresholds, the flags', and the error budget's limit."""
    success_rate = scenario.steady_state.success_rate
    if max_error_budget is not None:
        if not max_error_budget > 0:
            raise ConfigError(
                f"expected a number > 0, got {max_error_budget:g}", "--max-error-budget"
            )
        if success_rate <= 0:
            raise ConfigError(
                f"{scenario.source}: steady_state.success_rate is 0, so there is no error budget",
                "--max-error-budget",
            )
    return AbortPlan((*scenario.aborts, *flag_aborts), max_error_budget, success_rate)


def _locustfile(flag: Path | None, scenario: Scenario) -> Path | None:
    """`--locustfile` (relative to the working directory) over the scenario's own key;
    one that defines a LoadTestShape is refused here, so that a suite's check of every
    file finds it before any scenario runs."""
    from harness.load.locustfile import check_locustfile

    if flag is not None:
        path = check_locustfile(flag)
        _no_shape(path, f"--locustfile {flag}")
        return path
    if scenario.locustfile is None:
        return None
    try:
        path = check_locustfile(Path(scenario.locustfile))
    except ConfigError as exc:
        message = str(exc).removeprefix(f"{exc.where}: ")
        where = f"{scenario.source}: locustfile"
        raise ConfigError(f"{message} ({scenario.locustfile})", where) from None
    _no_shape(path, f"{scenario.source}: locustfile")
    return path


def _no_shape(path: Path, where: str) -> None:
    from harness.load.locustfile import shape_classes_defined

    shapes = shape_classes_defined(path)
    if shapes:
        raise ConfigError(
            f"{path} defines the LoadTestShape {shapes[0]}, which would drive the load "
            "instead of the scenario's profile; a scenario's locustfile needs none",
            where,
        )


def check_scenario(config: ScenarioRunConfig) -> None:
    """Everything that can be known wrong before the run starts (ConfigError)."""
    from harness.analysis.abort import ensure_abortable
    from harness.runner.profile import scenario_profile
    from harness.runner.readback.adapters import check_readback
    from harness.runner.target import deployment_config

    scenario, source = config.scenario, config.source
    if scenario.fault.type in DR_FAULT_TYPES and scenario.target.kind != "deployment":
        raise ConfigError(
            f"fault {scenario.fault.type} acts on the reference deployment: "
            'expected target = "deployment"',
            f"{source}: target",
        )
    fault = config.build_fault()
    check = getattr(fault, "check", None)
    if callable(check):  # a fault that can ask its target before the load starts
        try:
            check()
        except ConfigError as exc:
            message = str(exc).removeprefix(f"{exc.where}: ")
            raise ConfigError(message, f"{source}: {exc.where}") from None
    _check_runbook(scenario, source)
    check_readback(scenario, config.locustfile)
    scenario_profile(scenario)
    if scenario.target.kind == "deployment":
        deployment_config(scenario, Path("deployment"))
    for rule in config.abort.rules:
        ensure_abortable(rule)


def _check_runbook(scenario: Scenario, source: str) -> None:
    if not scenario.recovery.steps:
        return
    from harness.faults.runbook import check_steps

    check_steps(scenario.recovery.steps, source)


def scenario_thresholds(
    scenario: Scenario, extra: Sequence[Threshold] = ()
) -> tuple[Threshold, ...]:
    """The scenario's thresholds and `extra`, then its objectives as thresholds.

    `objectives.rto_s` becomes `rto<=N s`, `rpo_s` 0 `lost_writes==0` (else `rpo<=N s`),
    `containment_s` `containment<=N s` and `forged_after_containment==0` (after
    containment no forged request may succeed), each unless a threshold on the same metric is
    already given. When nothing judges RTO, `rto<=observe_s` is added: a scenario whose
    target never recovers within its observation fails.
    """
    objectives = scenario.objectives
    derived: list[str] = []
    if objectives.rto_s is not None:
        derived.append(f"rto<={objectives.rto_s:g}s")
    if objectives.rpo_s is not None:
        derived.append("lost_writes==0" if objectives.rpo_s == 0 else f"rpo<={objectives.rpo_s:g}s")
    if objectives.containment_s is not None:
        derived.append(f"containment<={objectives.containment_s:g}s")
        derived.append("forged_after_containment==0")
    derived.append(f"rto<={scenario.phases.observe_s:g}s")
    found = [*scenario.thresholds, *extra]
    judged = {t.name for t in found}
    for objective in parse_thresholds(derived, "objectives"):
        if objective.name not in judged:  # one the scenario's thresholds judge is not repeated
            found.append(objective)
            judged.add(objective.name)
    return tuple(unique(found))
