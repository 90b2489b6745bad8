"""Compare a run's summary with a baseline run's: percentage deltas and regression flags.

A metric regresses when it is worse than the baseline by more than `tolerance_pct`
(latency percentiles and error_rate higher, rps lower). error_rate must also rise by at
least `min_error_rate_rise` (0.1 percentage point), so that 0.01% against 0% is not
called a regression of infinity percent. Regressions are flagged, not failed: to gate on
them, use a relative threshold such as `p(95)<+10%` (docs/thresholds.md).

`SummaryObserver` evaluates thresholds against a stored summary.json, for a baseline
whose intervals are not at hand.
"""

from __future__ import annotations

from typing import Any

from harness.analysis.thresholds import RECOVERY_FIELDS, Threshold
from harness.rundir import Metrics, Summary

#: metric -> (where it lives in METRICS, +1 if higher is worse, -1 if lower is worse)
COMPARED: dict[str, tuple[tuple[str, ...], int]] = {
    "p50": (("latency_ms", "p50"), 1),
    "p95": (("latency_ms", "p95"), 1),
    "p99": (("latency_ms", "p99"), 1),
    "p99.9": (("latency_ms", "p99.9"), 1),
    "rps": (("rps",), -1),
    "error_rate": (("error_rate",), 1),
}
#: latency statistic of a threshold -> its key in METRICS["latency_ms"]
STAT_KEYS = {"avg": "mean", "med": "p50", "min": "min", "max": "max"}
DEFAULT_TOLERANCE_PCT = 10.0
MIN_ERROR_RATE_RISE = 0.001


def compare(
    summary: dict[str, Any],
    baseline_summary: dict[str, Any],
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
) -> dict[str, Any]:
    """Deltas for the totals and for every request name present in both runs.

    Each metric gets `{"current", "baseline", "delta_pct", "regression"}`; `delta_pct` is
    None when the baseline value is 0 or missing. `regressions` lists the flagged ones as
    readable strings; `regression` is True when there is any.
    """
    totals = _compare_metrics(summary.get("totals"), baseline_summary.get("totals"), tolerance_pct)
    endpoints: dict[str, Any] = {}
    base_endpoints = baseline_summary.get("endpoints") or {}
    for name, metrics in (summary.get("endpoints") or {}).items():
        if name in base_endpoints:
            endpoints[name] = _compare_metrics(metrics, base_endpoints[name], tolerance_pct)
    regressions = [f"totals {_describe(m, d)}" for m, d in totals.items() if d["regression"]]
    for name, deltas in endpoints.items():
        regressions += [f"{name} {_describe(m, d)}" for m, d in deltas.items() if d["regression"]]
    return {
        "run_id": baseline_summary.get("run_id"),
        "tolerance_pct": tolerance_pct,
        "totals": totals,
        "endpoints": endpoints,
        "only_in_run": sorted(set(summary.get("endpoints") or {}) - set(base_endpoints)),
        "only_in_baseline": sorted(set(base_endpoints) - set(summary.get("endpoints") or {})),
        "regression": bool(regressions),
        "regressions": regressions,
    }


def _lookup(metrics: dict[str, Any] | None, path: tuple[str, ...]) -> float | None:
    value: Any = metrics
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return float(value) if isinstance(value, int | float) else None


def _compare_metrics(
    current: dict[str, Any] | None, baseline: dict[str, Any] | None, tolerance_pct: float
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for metric, (path, worse) in COMPARED.items():
        now, then = _lookup(current, path), _lookup(baseline, path)
        delta_pct = None
        if now is not None and then is not None and then != 0:
            delta_pct = (now - then) / abs(then) * 100.0
        out[metric] = {
            "current": now,
            "baseline": then,
            "delta_pct": delta_pct,
            "regression": _regressed(metric, now, then, delta_pct, worse, tolerance_pct),
        }
    return out


def _regressed(
    metric: str,
    now: float | None,
    then: float | None,
    delta_pct: float | None,
    worse: int,
    tolerance_pct: float,
) -> bool:
    if now is None or then is None:
        return False
    if metric == "error_rate":
        rise = now - then
        return rise >= MIN_ERROR_RATE_RISE and (then == 0 or rise / then * 100 > tolerance_pct)
    return delta_pct is not None and delta_pct * worse > tolerance_pct


def _describe(metric: str, delta: dict[str, Any]) -> str:
    if metric == "error_rate":
        return f"{metric} {delta['baseline'] * 100:.2f}% -> {delta['current'] * 100:.2f}%"
    return f"{metric} {delta['delta_pct']:+.1f}%"


def observe_recovery(recovery: dict[str, Any] | None, name: str) -> float | str:
    """A recovery metric from summary["recovery"], or "<name> not measured" when null."""
    value = None if recovery is None else recovery.get(RECOVERY_FIELDS[name])
    return f"{name} not measured" if value is None else float(value)


class SummaryObserver:
    """Observes thresholds on a stored summary.json (a baseline without its intervals).

    Only the percentiles summary.json keeps (50, 95, 99, 99.9) can be observed this way.
    """

    def __init__(self, summary: Summary) -> None:
        self.summary = summary

    def observe(self, threshold: Threshold) -> float | str:
        """A threshold's metric from the stored figures, or why it is not there."""
        if threshold.name in RECOVERY_FIELDS:
            recovery = self.summary.recovery
            value = None if recovery is None else recovery.figure(RECOVERY_FIELDS[threshold.name])
            return f"{threshold.name} not measured" if value is None else value
        if threshold.scope is None:
            scope: Metrics | None = self.summary.totals
        else:
            scope = self.summary.endpoints.get(threshold.scope)
        if scope is None:
            return f"no requests named {threshold.scope!r} in this run"
        if threshold.name in ("rps", "requests", "failures", "error_rate"):
            return float(getattr(scope, threshold.name))
        if threshold.name == "dropped":
            share = scope.dropped
            return "dropped not in the stored summary" if share is None else share
        corrected = threshold.name.startswith("c")
        latency = scope.latency_corrected_ms if corrected else scope.latency_ms
        stat = threshold.name[1:] if corrected else threshold.name
        name = (
            f"p{threshold.arg:g}"
            if stat == "p" and threshold.arg is not None
            else STAT_KEYS.get(stat, "")
        )
        value = None if latency is None else latency.stat(name)
        return f"{threshold.metric} not in the stored summary" if value is None else value
