"""Recovery figures of a scenario run: RTO, time to detect, outage, error budget, RPO, breach.

Everything is computed from the run directory alone (run.json, events.jsonl,
intervals.jsonl, ledger.jsonl, readback.json, attack.jsonl), so a run can be judged again
later. Definitions (docs/scenarios.md has the full text):

- RTO = t_recovered − t_injected; t_recovered starts the first window (`window_s`) on the
  100 ms grid from which the steady-state hypothesis holds in every window until the
  observation ends. Never recovered → `rto_s` None.
- ttd_s: first failure (or latency breach, or failed probe) after injection − t_injected.
- outage_s: from the first failure after injection to the end of the last one's slot.
- error_budget_used = failures during the observation / ((1 − success_rate) × requests
  of the whole run).
- RPO = max(0, t_injected − t_ack of the oldest acknowledged write missing at read-back).
- Breach: containment_s = t(last successful forged request) − t_injected, when a refused
  forged request followed it; unauthorized_ok = successful forged requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.breach import ATTACK, measure_breach
from harness.analysis.data_loss import measure_data_loss, read_readback
from harness.analysis.steady_state import (
    SLOT_S,
    Timeline,
    evaluate,
    latency_breaches,
    load_timeline,
    slot_of,
    window_holds,
    window_slots,
)
from harness.errors import ConfigError
from harness.rundir import RunDir, iter_jsonl, read_manifest
from harness.rundir.scenario import SteadyState, StoredScenario, stored_scenario

#: Figures of the result that stay None until measured (see docs/scenarios.md).
MEASURED_KEYS: tuple[str, ...] = (
    "t_recovered",
    "t_observe_end",
    "rto_s",
    "ttd_s",
    "detected_by",
    "outage_s",
    "requests",
    "failures",
    "error_budget_used",
    "error_budget_allowed",
    "steady_before",
    "steady_before_detail",
    "rpo_s",
    "lost_writes",
    "acknowledged_writes",
    "lost_after_injection",
    "checked_at",
    "unchecked_writes",
    "unknown_writes",
    "containment_s",
    "t_contained",
    "unauthorized_ok",
    "forged_requests",
    "forged_ok_after_containment",
    "legit_requests_during_rotation",
    "legit_errors_during_rotation",
)


@dataclass(frozen=True)
class RecoveryTiming:
    """When the service recovered, and how the failure looked from the clients' side."""

    t_observe_end: float
    t_recovered: float | None
    rto_s: float | None
    ttd_s: float | None
    detected_by: str | None
    outage_s: float
    requests: int
    failures: int


def measure_recovery(
    timeline: Timeline,
    steady: SteadyState,
    t_injected: float,
    t_observe_end: float,
    window_s: float,
) -> RecoveryTiming:
    """RTO, ttd and outage from a timeline (pure: no files, no clock)."""
    t_end = min(t_observe_end, timeline.end_s)
    n = window_slots(window_s)
    first, last_slot = slot_of(t_injected), slot_of(t_end)
    silence_s = resolve_max_silence_s(timeline, steady, t_injected)
    holds = window_holds(timeline, steady, window_s, first, last_slot - n, silence_s)
    t_recovered = None
    if len(holds) and holds[-1]:
        broken = np.flatnonzero(~holds)
        start = first + (int(broken[-1]) + 1 if len(broken) else 0)
        t_recovered = max(t_injected, start * SLOT_S)
    ok, fail = _slots(timeline, first, last_slot)
    fail_slots = np.flatnonzero(fail) + first
    candidates: list[tuple[float, str]] = []
    outage_s = 0.0
    if len(fail_slots):
        t_first = max(t_injected, int(fail_slots[0]) * SLOT_S)
        candidates.append((t_first, "failure"))
        outage_s = (int(fail_slots[-1]) + 1) * SLOT_S - t_first
    slow = [s for s in latency_breaches(timeline, steady, int(t_injected)) if s < t_end]
    if slow:
        candidates.append((max(t_injected, float(slow[0])), "latency"))
    probes = timeline.probe_failures_t
    probes = probes[(probes >= t_injected) & (probes < t_end)]
    if len(probes):
        candidates.append((float(probes[0]), "probe"))
    detected = min(candidates) if candidates else None
    return RecoveryTiming(
        t_observe_end=t_end,
        t_recovered=t_recovered,
        rto_s=None if t_recovered is None else _r(t_recovered - t_injected),
        ttd_s=None if detected is None else _r(detected[0] - t_injected),
        detected_by=None if detected is None else detected[1],
        outage_s=_r(outage_s),
        requests=int(ok.sum() + fail.sum()),
        failures=int(fail.sum()),
    )


def resolve_max_silence_s(
    timeline: Timeline, steady: SteadyState, t_injected: float, baseline_s: float = 5.0
) -> float | None:
    """The silence that breaks a window: the configured one, or the time in which 10
    requests completed over the `baseline_s` before injection (None without traffic)."""
    if steady.max_silence_s is not None:
        return steady.max_silence_s
    first = max(slot_of(t_injected - baseline_s), timeline.first_slot)
    last = slot_of(t_injected)
    ok, fail = timeline.counts(first, last)
    if last <= first or ok + fail == 0:
        return None
    rate_per_s = (ok + fail) / ((last - first) * SLOT_S)
    return max(SLOT_S, 10.0 / rate_per_s)


def _slots(timeline: Timeline, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    lo = min(max(first - timeline.first_slot, 0), len(timeline.ok))
    hi = min(max(last - timeline.first_slot, 0), len(timeline.ok))
    return timeline.ok[lo:hi], timeline.fail[lo:hi]


def error_budget_used(
    failures_observed: int, requests_in_run: int, success_rate: float
) -> tuple[float | None, float]:
    """(used, allowed): failures observed / the failures `success_rate` allows over the run.

    `used` is None when nothing is allowed (success_rate 1, or no requests) yet failures
    occurred, and also when there is no success-rate objective (success_rate 0).
    """
    if success_rate <= 0:
        return None, float(requests_in_run)
    allowed = (1.0 - success_rate) * requests_in_run
    if allowed <= 0:
        return (0.0 if failures_observed == 0 else None), 0.0
    return _r(failures_observed / allowed, 4), _r(allowed, 3)


@dataclass
class Marks:
    """What the runner recorded on the timeline about the fault and the recovery."""

    t_injected: float | None = None
    t_cleared: float | None = None
    t_observe_end: float | None = None
    fault: str | None = None
    fault_detail: str | None = None
    fault_failed: list[str] = field(default_factory=list)
    runbook: list[dict[str, Any]] = field(default_factory=list)
    probe_failures_t: list[float] = field(default_factory=list)


def read_marks(events: Iterable[Mapping[str, Any]], probe_name: str) -> Marks:
    """Fault, runbook, probe and phase marks from events (see docs/scenarios.md)."""
    marks = Marks()
    ends: list[float] = []
    for event in events:
        t, kind = event.get("t"), event.get("kind")
        if not isinstance(t, int | float):
            continue
        t = float(t)
        if kind == "fault_injected" and marks.t_injected is None:
            marks.t_injected, marks.fault = t, str(event.get("fault"))
            marks.fault_detail = str(event.get("detail", ""))
        elif kind == "fault_cleared" and marks.t_cleared is None and marks.t_injected is not None:
            marks.t_cleared = t
        elif kind == "fault_failed":
            marks.fault_failed.append(f"{event.get('fault')}: {event.get('detail')}")
        elif kind == "recovery_action":
            marks.runbook.append(
                {
                    "t": t,
                    "action": str(event.get("action", "")),
                    "detail": str(event.get("detail", "")),
                    "ok": bool(event.get("ok")),
                }
            )
        elif kind == "probe" and event.get("name") == probe_name and not event.get("ok"):
            marks.probe_failures_t.append(t)
        elif (kind == "phase" and event.get("name") == "cooldown") or kind == "run_stopped":
            ends.append(t)
    if marks.t_injected is not None:
        later = [t for t in ends if t > marks.t_injected]
        marks.t_observe_end = min(later) if later else None
    return marks


def compute_recovery(run_dir: Path) -> dict[str, Any]:
    """All recovery figures of a scenario run directory, as JSON data (summary.recovery).

    Reads the scenario from run.json `config.scenario` (defaults, with a warning, when it is
    missing or unreadable). Figures that cannot be computed are None, with a warning.
    """
    rd = RunDir(Path(run_dir))
    warnings: list[str] = []
    scenario = _stored_scenario(rd, warnings)
    steady, phases = scenario.steady_state, scenario.phases
    probe_name = steady.probe.name if steady.probe else "steady_state"
    marks = read_marks(iter_jsonl(rd.events), probe_name)
    for failure in marks.fault_failed:
        warnings.append(f"fault failed: {failure}")
    span_s = None
    if marks.t_injected is not None:
        before_s = max(phases.steady_check_s, 5.0) + phases.window_s
        span_s = (marks.t_injected - before_s, marks.t_injected + phases.observe_s)
    timeline = load_timeline(rd.path, marks.probe_failures_t, span_s)
    out = _empty_result(scenario, marks)
    if marks.t_injected is None:
        warnings.append("no fault_injected event: nothing to measure")
        out["warnings"] = warnings
        return out
    t_inj = marks.t_injected
    declared_end = t_inj + phases.observe_s
    if marks.t_observe_end is not None:
        declared_end = min(declared_end, marks.t_observe_end)
    timing = measure_recovery(timeline, steady, t_inj, declared_end, phases.window_s)
    if timing.t_observe_end - t_inj < phases.window_s:
        warnings.append("observation shorter than one recovery window: RTO not measurable")
    run_ok, run_fail = timeline.counts(timeline.first_slot, timeline.first_slot + len(timeline.ok))
    used, allowed = error_budget_used(timing.failures, run_ok + run_fail, steady.success_rate)
    out.update(asdict(timing))
    out.update(error_budget_used=used, error_budget_allowed=allowed)
    if phases.steady_check_s > 0 and timeline.start_s <= t_inj - phases.steady_check_s + 1e-6:
        before = evaluate(timeline, steady, t_inj - phases.steady_check_s, t_inj)
        out.update(steady_before=before.ok, steady_before_detail=before.detail())
    loss = measure_data_loss(iter_jsonl(rd.ledger), read_readback(rd.path, warnings), t_inj)
    out.update(asdict(loss))
    out["lost_keys"] = list(loss.lost_keys)
    if loss.unknown_writes:
        warnings.append(
            f"{loss.unknown_writes} acknowledged writes could not be checked (unknown): "
            "RPO not given, lost writes counted among the others"
        )
    attack_path = rd.path / ATTACK
    if scenario.fault_type == "security_breach" or attack_path.exists():
        breach = measure_breach(
            iter_jsonl(attack_path), t_inj, marks.runbook, timeline, phases.window_s
        )
        out.update(asdict(breach))
    out["verdicts"] = verdicts(scenario, out)
    out["warnings"] = warnings
    return out


def verdicts(scenario: StoredScenario, figures: Mapping[str, Any]) -> dict[str, bool]:
    """Pass/fail per objective; only objectives that apply appear."""
    objectives = scenario.objectives
    out = {"recovered": figures.get("rto_s") is not None}
    if objectives.rto_s is not None:
        rto_s = figures.get("rto_s")
        out["rto"] = rto_s is not None and rto_s <= objectives.rto_s + 1e-9
    if objectives.rpo_s is not None:
        lost, rpo_s = figures.get("lost_writes"), figures.get("rpo_s")
        if objectives.rpo_s == 0:  # unknown keys might be lost: zero cannot be claimed
            out["rpo"] = lost == 0 and not figures.get("unknown_writes")
        else:
            out["rpo"] = rpo_s is not None and rpo_s <= objectives.rpo_s + 1e-9
    if objectives.containment_s is not None:
        contained = figures.get("containment_s")
        out["containment"] = contained is not None and contained <= objectives.containment_s
    if figures.get("forged_ok_after_containment") is not None:
        out["no_forged_ok_after_containment"] = figures["forged_ok_after_containment"] == 0
    return out


def _empty_result(scenario: StoredScenario, marks: Marks) -> dict[str, Any]:
    """Every key of the result, with what is known before any measurement."""
    t_inj = marks.t_injected
    steady = scenario.steady_state
    objectives: dict[str, Any] = {k: v for k, v in asdict(scenario.objectives).items()}
    objectives["success_rate"] = steady.success_rate
    objectives.update({limit.key: limit.max_ms for limit in steady.latency_ms})
    runbook = [
        {**step, "t_rel_s": None if t_inj is None else _r(step["t"] - t_inj)}
        for step in marks.runbook
    ]
    out: dict[str, Any] = dict.fromkeys(MEASURED_KEYS)
    out.update(
        scenario=scenario.name,
        fault={"type": marks.fault or scenario.fault_type, "detail": marks.fault_detail},
        t_injected=t_inj,
        t_cleared=marks.t_cleared,
        window_s=scenario.phases.window_s,
        lost_keys=[],
        objectives=objectives,
        verdicts={"recovered": False},
        runbook=runbook,
        warnings=[],
    )
    return out


def _stored_scenario(rd: RunDir, warnings: list[str]) -> StoredScenario:
    """The scenario stored in run.json `config.scenario`, or defaults with a warning."""
    try:
        found = stored_scenario(read_manifest(rd.path))
        if found is not None:
            return found
        warnings.append("run.json has no config.scenario: default steady state used")
    except ConfigError as exc:
        warnings.append(f"{exc}: default steady state used")
    return StoredScenario()


def _r(value: float, digits: int = 3) -> float:
    """Round for the report: 1 ms is the finest figure any of these can honestly claim."""
    return round(float(value), digits)
