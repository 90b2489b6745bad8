"""The report's content, section by section, as plain values the templates only lay out.

Everything here reads what a run wrote (run.json, events, summary.json, service stats) and
turns it into rows of preformatted text; no number is formatted in a template.
The verdict banner is in verdict.py; recovery, service and workers in resilience.py.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from harness.report.charts import Marker, Span, Timeline
from harness.report.formatting import (
    DASH,
    fmt_change,
    fmt_clock,
    fmt_count,
    fmt_ms,
    fmt_rate,
    fmt_seconds,
    fmt_share,
    fmt_value,
)
from harness.rundir import (
    Event,
    EventKind,
    Manifest,
    Metrics,
    Summary,
    ThresholdRow,
    of_kind,
)

Json = Mapping[str, Any]
"""A free-form JSON object (service-stats.json): not part of the run-directory contract."""
#: threshold metrics judged on summary.recovery (harness.analysis.thresholds.RECOVERY_FIELDS)
RECOVERY_METRICS = ("rto", "ttd", "outage", "containment", "rpo", "lost_writes", "unauthorized_ok")
_LATENCY_KEYS = ("p50", "p95", "p99", "p99.9", "max")


@dataclass(frozen=True)
class Fact:
    """One labelled value (the run's facts, recovery figures, counters)."""

    label: str
    value: str
    ok: bool | None = None
    detail: str = ""
    objective: str = ""


@dataclass(frozen=True)
class Row:
    """One table row: cells in column order, and whether it is good, bad or neutral."""

    cells: tuple[str, ...]
    ok: bool | None = None
    strong: bool = False


@dataclass(frozen=True)
class Table:
    """A table: headers and rows; `numeric` marks right-aligned columns."""

    headers: tuple[str, ...]
    rows: tuple[Row, ...]
    numeric: frozenset[int] = field(default_factory=frozenset)


def number(value: Any) -> float | None:
    """`value` as a finite float, or None (for missing, NaN, booleans, text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def build_facts(run: Manifest, summary: Summary, events: Sequence[Event]) -> tuple[Fact, ...]:
    """The run's identity and environment, in the order a reader looks for them."""
    joined = sum(1 for e in events if e.kind is EventKind.WORKER_JOINED)
    lost = sum(1 for e in events if e.kind is EventKind.WORKER_LOST)
    duration = fmt_seconds(summary.duration_s)
    if run.planned_duration_s:
        duration += f" of {fmt_seconds(run.planned_duration_s)} planned"
    target = run.target or DASH
    if run.embedded_service:
        target += " (reference service, started by the harness)"
    ended = run.ended_at
    versions = ", ".join(f"{k} {v}" for k, v in run.versions.items() if v)
    facts = [
        Fact("Scenario", run.scenario or DASH),
        Fact("Profile", run.profile or "fixed users"),
        Fact("Target", target),
        Fact(
            "Workers",
            f"{run.workers_expected} expected, {joined} joined, {lost} lost",
            ok=None if not lost else False,
        ),
        Fact("Duration", duration),
        Fact("Started", fmt_clock(run.started_at)),
        Fact("Ended", fmt_clock(ended) if ended else f"not ended (status {run.status.value})"),
        Fact("Status", run.status.value),
        Fact("Run id", run.run_id or DASH),
        Fact("Host", run.host or DASH),
        Fact("Versions", versions or DASH),
        Fact("Command line", shlex.join(run.argv) or DASH),
    ]
    return tuple(facts)


def build_thresholds(summary: Summary) -> Table:
    """Every threshold and objective in force, observed against its limit."""
    rows = []
    for t in summary.thresholds:
        rows.append(
            Row(
                (
                    t.expr,
                    _scope_text(t),
                    fmt_value(t.observed, t.unit),
                    f"{t.op} {fmt_value(t.limit, t.unit)}",
                    fmt_change(t.observed, t.limit) if not t.ok else "",
                    "pass" if t.ok else "FAIL",
                    t.message if not t.ok or t.observed is None else "",
                ),
                ok=t.ok,
            )
        )
    headers = ("Expression", "Scope", "Observed", "Limit", "Off by", "Result", "Note")
    return Table(headers, tuple(rows), frozenset({2, 3, 4}))


def _scope_text(threshold: ThresholdRow) -> str:
    if threshold.scope:
        return threshold.scope
    return "recovery" if threshold.metric in RECOVERY_METRICS else "all requests"


def global_thresholds(summary: Summary, metric: str) -> list[ThresholdRow]:
    """Thresholds on `metric` (canonical, e.g. `p(95)`, `rto`) over all requests."""
    return [t for t in summary.thresholds if t.metric == metric and not t.scope]


def thresholds_ok(summary: Summary, *metrics: str) -> bool | None:
    """False if a global threshold on any of `metrics` failed, True if all held, None if none."""
    found = [t for m in metrics for t in global_thresholds(summary, m)]
    return None if not found else all(t.ok for t in found)


ENDPOINT_HEADERS: tuple[str, ...] = (
    "Request", "Requests", "Failures", "Rate", "Errors", "P50", "P95", "P99", "P99.9", "Max",
)  # fmt: skip


def build_endpoints(summary: Summary) -> Table:
    """One row per request name (busiest first), then the totals."""
    endpoints = summary.endpoints
    order = sorted(endpoints, key=lambda n: -endpoints[n].requests)
    rows = [_metrics_row(name, endpoints[name]) for name in order]
    rows.append(_metrics_row("All requests", summary.totals, strong=True))
    headers = ENDPOINT_HEADERS
    return Table(headers, tuple(rows), frozenset(range(1, 10)))


def _metrics_row(name: str, metrics: Metrics, strong: bool = False) -> Row:
    cells = (
        name,
        fmt_count(metrics.requests),
        fmt_count(metrics.failures),
        fmt_rate(metrics.rps),
        fmt_share(metrics.error_rate),
        *(fmt_ms(metrics.latency_ms.stat(key)) for key in _LATENCY_KEYS),
    )
    return Row(cells, strong=strong)


def build_error_kinds(summary: Summary) -> Table:
    """Failures by kind (status code or exception), most frequent first."""
    errors = summary.totals.errors
    total = sum(errors.values()) or 1
    rows = tuple(
        Row((kind, fmt_count(count), fmt_share(count / total)))
        for kind, count in sorted(errors.items(), key=lambda kv: -kv[1])
    )
    return Table(("Failure kind", "Count", "Share of failures"), rows, frozenset({1, 2}))


def first_event(events: Sequence[Event], kind: EventKind) -> Event | None:
    """The earliest event of `kind`, or None."""
    found = of_kind(events, kind)
    return found[0] if found else None


def build_timeline(
    summary: Summary, events: Sequence[Event], t0: float, duration_s: float
) -> Timeline:
    """Stages, faults, detection and recovery, in seconds since `t0`, for the charts."""
    stages = of_kind(events, EventKind.STAGE)
    spans = []
    for index, stage in enumerate(stages):
        end = stages[index + 1].t if index + 1 < len(stages) else t0 + duration_s
        spans.append(Span(stage.t - t0, end - t0, _stage_label(stage)))
    faults, markers = _fault_spans(events, t0, duration_s)
    markers += [
        Marker(e.t - t0, f"worker {e.text('worker')} lost", "worker_lost")
        for e in events
        if e.kind is EventKind.WORKER_LOST
    ]
    recovery = summary.recovery
    injected = first_event(events, EventKind.FAULT_INJECTED)
    t_inject = recovery.t_injected if recovery is not None else None
    if t_inject is None and injected is not None:
        t_inject = injected.t
    rto: tuple[float, float] | None = None
    label = ""
    if t_inject is not None and recovery is not None:
        ttd_s, rto_s = recovery.figure("ttd_s"), recovery.rto_s
        if ttd_s is not None:
            markers.append(Marker(t_inject + ttd_s - t0, f"detected +{ttd_s:.1f} s", "detected"))
        if rto_s is not None:
            t_recovered = recovery.figure("t_recovered") or t_inject + rto_s
            markers.append(Marker(t_recovered - t0, "recovered", "recovered"))
            rto, label = (t_inject - t0, t_recovered - t0), f"RTO {rto_s:.1f} s"
    return Timeline(duration_s, tuple(spans), tuple(faults), tuple(markers), rto, label)


def _stage_label(stage: Event) -> str:
    parts = [stage.text("name") or ""]
    rate = stage.number("rate_per_s")
    users = stage.number("users")
    if rate:
        parts.append(f"{rate:g}/s")
    elif users:
        parts.append(f"{users:g} users")
    return " · ".join(p for p in parts if p)


def _fault_spans(
    events: Sequence[Event], t0: float, duration_s: float
) -> tuple[list[Span], list[Marker]]:
    spans: list[Span] = []
    markers: list[Marker] = []
    open_faults: dict[str, float] = {}
    for event in of_kind(events, EventKind.FAULT_INJECTED, EventKind.FAULT_CLEARED):
        name, at = event.text("fault") or "fault", event.t - t0
        if event.kind is EventKind.FAULT_INJECTED:
            open_faults[name] = at
            markers.append(Marker(at, f"{name} injected", "fault"))
        else:
            start = open_faults.pop(name, None)
            markers.append(Marker(at, f"{name} cleared", "cleared"))
            if start is not None:
                spans.append(Span(start, at, name))
    spans += [Span(start, duration_s, name) for name, start in open_faults.items()]
    return spans, markers


def build_key_figures(summary: Summary) -> tuple[Fact, ...]:
    """The handful of numbers shown under the verdict."""
    totals = summary.totals
    judged = partial(thresholds_ok, summary)
    figures = [
        Fact("Requests", fmt_count(totals.requests)),
        Fact("Throughput", fmt_rate(totals.rps), judged("rps")),
        Fact("Error rate", fmt_share(totals.error_rate), judged("error_rate")),
        Fact("P95", fmt_ms(totals.latency_ms.p95), judged("p(95)")),
        Fact("P99", fmt_ms(totals.latency_ms.p99), judged("p(99)")),
    ]
    recovery = summary.recovery
    if recovery is not None:
        rto_s = recovery.rto_s
        rto_ok = _both(
            _first(recovery.verdict("rto"), recovery.verdict("recovered")), judged("rto")
        )
        figures.append(
            Fact("RTO", fmt_seconds(rto_s) if rto_s is not None else "not recovered", rto_ok)
        )
        lost = recovery.lost_writes
        if lost is not None:
            lost_ok = _both(recovery.verdict("rpo"), judged("rpo", "lost_writes"))
            figures.append(Fact("Lost writes", fmt_count(lost), lost_ok))
    return tuple(figures)


def _first(*verdicts: bool | None) -> bool | None:
    """The first verdict that applies, else None."""
    return next((v for v in verdicts if v is not None), None)


def _both(first: bool | None, second: bool | None) -> bool | None:
    """Combine two optional verdicts: False wins, then True, else None."""
    if first is False or second is False:
        return False
    if first is None and second is None:
        return None
    return True
