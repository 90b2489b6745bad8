"""The report's baseline section: summary.json's `baseline` deltas, laid out as tables.

The deltas document is `harness.analysis.baseline.compare`'s (docs/thresholds.md), read
as `harness.rundir.deltas.BaselineDeltas`; the two runs' own figures come from their typed
`Summary`.

The deltas and regression flags come from `harness.analysis.baseline.compare` (stored in
summary.json by the gate, or computed here when the report is given `--baseline`). Recovery
figures are shown side by side too: RTO is flagged when it grew by more than the same
tolerance, or when the baseline recovered and this run did not; lost writes when there are
more of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.report.formatting import (
    DASH,
    fmt_change,
    fmt_count,
    fmt_ms,
    fmt_rate,
    fmt_seconds,
    fmt_share,
)
from harness.report.sections import Row, Table
from harness.rundir import Summary
from harness.rundir.deltas import DEFAULT_TOLERANCE_PCT, BaselineDeltas, MetricDelta

_NO_DELTA = MetricDelta()

_LABELS: dict[str, tuple[str, Callable[[float | None], str]]] = {
    "rps": ("Throughput", fmt_rate),
    "error_rate": ("Error rate", fmt_share),
    "p50": ("P50", fmt_ms),
    "p95": ("P95", fmt_ms),
    "p99": ("P99", fmt_ms),
    "p99.9": ("P99.9", fmt_ms),
}
_ENDPOINT_METRICS = ("p95", "p99", "error_rate")


@dataclass(frozen=True)
class BaselineSection:
    """Totals and recovery compared, one line per request name, and the regressions."""

    baseline_id: str
    tolerance_pct: float
    totals: Table
    endpoints: Table
    regressions: tuple[str, ...]
    unmatched: tuple[str, ...]


def baseline_deltas(summary: Summary, base: Summary | None) -> BaselineDeltas | None:
    """summary.json's stored `baseline` deltas, else a comparison with `base`, else None."""
    if summary.baseline is not None and base is None:
        return summary.baseline
    if base is None:
        return None
    from harness.analysis.baseline import compare

    return BaselineDeltas.from_dict(compare(summary.to_dict(), base.to_dict()), "baseline")


def _delta_text(delta: MetricDelta) -> str:
    pct = delta.delta_pct
    if pct is None:
        return DASH
    return f"{pct:+.0f}%" if abs(pct) >= 10 else f"{pct:+.1f}%"


def _metric_row(label: str, metric: str, delta: MetricDelta) -> Row:
    fmt = _LABELS[metric][1]
    cells = (
        label,
        fmt(delta.baseline),
        fmt(delta.current),
        _delta_text(delta),
        "regression" if delta.regression else "",
    )
    return Row(cells, ok=False if delta.regression else None)


def build_baseline(summary: Summary, base: Summary | None) -> BaselineSection | None:
    """The baseline section, or None when there is no baseline."""
    deltas = baseline_deltas(summary, base)
    if deltas is None:
        return None
    tolerance = deltas.tolerance_pct or DEFAULT_TOLERANCE_PCT
    totals = deltas.totals
    rows = [_metric_row(_LABELS[m][0], m, totals[m]) for m in _LABELS if m in totals]
    regressions = list(deltas.regressions)
    recovery_rows, recovery_regressions = _recovery_rows(summary, base, tolerance)
    rows += recovery_rows
    regressions += recovery_regressions
    headers = ("Metric", "Baseline", "This run", "Change", "")
    unmatched = [f"only in this run: {n}" for n in deltas.only_in_run]
    unmatched += [f"only in the baseline: {n}" for n in deltas.only_in_baseline]
    return BaselineSection(
        baseline_id=deltas.run_id or DASH,
        tolerance_pct=tolerance,
        totals=Table(headers, tuple(rows), frozenset({1, 2, 3})),
        endpoints=_endpoint_table(deltas.endpoints),
        regressions=tuple(regressions),
        unmatched=tuple(unmatched),
    )


def _endpoint_table(endpoints: Mapping[str, Mapping[str, MetricDelta]]) -> Table:
    rows = []
    for name in sorted(endpoints):
        cells: list[str] = [name]
        regressed = False
        for metric in _ENDPOINT_METRICS:
            delta = endpoints[name].get(metric, _NO_DELTA)  # typed: MetricDelta
            fmt = _LABELS[metric][1]
            cells.append(f"{fmt(delta.baseline)} → {fmt(delta.current)}")
            cells.append(_delta_text(delta))
            regressed = regressed or delta.regression
        rows.append(Row(tuple(cells), ok=False if regressed else None))
    headers = ("Request", "P95", "Δ", "P99", "Δ", "Error rate", "Δ")
    return Table(headers, tuple(rows), frozenset(range(1, 7)))


def _recovery_rows(
    summary: Summary, base: Summary | None, tolerance_pct: float
) -> tuple[list[Row], list[str]]:
    now, then = summary.recovery, base.recovery if base is not None else None
    if now is None or then is None:
        return [], []
    rows: list[Row] = []
    regressions: list[str] = []
    checks: tuple[
        tuple[str, str, Callable[[float | None], str], Callable[[float, float], bool]], ...
    ] = (
        ("RTO", "rto_s", fmt_seconds, lambda b, c: c > b * (1 + tolerance_pct / 100)),
        ("Time to detect", "ttd_s", fmt_seconds, lambda b, c: False),
        ("Lost writes", "lost_writes", fmt_count, lambda b, c: c > b),
    )
    for label, key, fmt, worse in checks:
        before, current = then.figure(key), now.figure(key)
        regressed = before is not None and current is not None and worse(before, current)
        if key == "rto_s" and before is not None and current is None:
            regressed = True
        change = fmt_change(current, before) or DASH
        rows.append(
            Row(
                (
                    label,
                    fmt(before),
                    fmt(current) if current is not None or key != "rto_s" else "not recovered",
                    change,
                    "regression" if regressed else "",
                ),
                ok=False if regressed else None,
            )
        )
        if regressed:
            regressions.append(f"{label}: {fmt(before)} → {rows[-1].cells[2]}")
    return rows, regressions
