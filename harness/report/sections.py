"""The report's content, section by section, as plain values the templates only lay out.

Everything here reads what a run wrote (run.json, events, summary.json, service stats) and
turns it into rows of preformatted text; no number is formatted in a template.
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

Json = Mapping[str, Any]
#: threshold metrics judged on summary.recovery (harness.analysis.thresholds.RECOVERY_FIELDS)
RECOVERY_METRICS = ("rto", "ttd", "outage", "containment", "rpo", "lost_writes", "unauthorized_ok")
_LATENCY_KEYS = ("p50", "p95", "p99", "p99.9", "max")


@dataclass(frozen=True)
class Verdict:
    """The banner: state (`pass`, `fail`, `error`, `incomplete`), headline and what failed."""

    state: str
    headline: str
    subtitle: str
    failed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


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


def run_is_incomplete(run: Json) -> bool:
    """A run still `running`, `interrupted`, or without an end time."""
    return run.get("status") in ("running", "interrupted") or run.get("ended_at") is None


def build_verdict(run: Json, summary: Json) -> Verdict:
    """The verdict banner, from run.json's status and summary.json's verdict."""
    failed = tuple(_failed_line(t) for t in summary.get("thresholds") or () if not t.get("ok"))
    verdict = str(summary.get("verdict") or "error")
    judged = {"pass": "all thresholds and objectives met", "fail": f"{len(failed)} failed"}
    if run.get("status") == "failed" or verdict == "error":
        reason = run.get("error") or summary.get("error") or "the run could not be judged"
        return Verdict("error", "ERROR", str(reason), failed)
    if run_is_incomplete(run) or verdict == "incomplete":
        status = run.get("status") or "running"
        why = {
            "running": "The run has not finished: run.json still says running (it may have "
            "crashed).",
            "interrupted": "The run was interrupted before its planned end.",
        }.get(str(status), "The run has no end time.")
        so_far = verdict if verdict in judged else ("fail" if failed else "pass")
        return Verdict(
            "incomplete",
            "INCOMPLETE",
            f"{why} On the data so far: {so_far.upper()} ({judged[so_far]}). "
            "An incomplete run never passes.",
            failed,
        )
    if verdict == "pass":
        count = len(summary.get("thresholds") or ())
        return Verdict("pass", "PASS", f"All {count} thresholds and objectives met.")
    return Verdict(
        "fail",
        "FAIL",
        f"{len(failed)} of {len(summary.get('thresholds') or ())} thresholds or objectives failed.",
        failed,
    )


def _failed_line(threshold: Json) -> str:
    observed = number(threshold.get("observed"))
    limit = number(threshold.get("limit"))
    unit = threshold.get("unit")
    scope = threshold.get("scope")
    where = f" on {scope}" if scope and scope not in ("global", "total", "*") else ""
    if observed is None:
        message = threshold.get("message") or "no data to judge"
        return f"{threshold.get('expr')}{where}: {message}"
    change = fmt_change(observed, limit)
    change = f" ({change})" if change else ""
    return (
        f"{threshold.get('expr')}{where}: observed {fmt_value(observed, unit)}, "
        f"limit {threshold.get('op', '')} {fmt_value(limit, unit)}{change}"
    )


def build_facts(run: Json, summary: Json, events: Sequence[Json]) -> tuple[Fact, ...]:
    """The run's identity and environment, in the order a reader looks for them."""
    started = number(run.get("started_at"))
    ended = number(run.get("ended_at"))
    joined = sum(1 for e in events if e.get("kind") == "worker_joined")
    lost = sum(1 for e in events if e.get("kind") == "worker_lost")
    versions = run.get("versions") or {}
    planned = number(run.get("planned_duration_s"))
    actual = number(summary.get("duration_s"))
    duration = fmt_seconds(actual)
    if planned:
        duration += f" of {fmt_seconds(planned)} planned"
    facts = [
        Fact("Scenario", str(run.get("scenario") or DASH)),
        Fact("Profile", str(run.get("profile") or "fixed users")),
        Fact(
            "Target",
            str(run.get("target") or DASH)
            + (
                " (reference service, started by the harness)"
                if run.get("embedded_service")
                else ""
            ),
        ),
        Fact(
            "Workers",
            f"{run.get('workers_expected', DASH)} expected, {joined} joined, {lost} lost",
            ok=None if not lost else False,
        ),
        Fact("Duration", duration),
        Fact("Started", fmt_clock(started)),
        Fact("Ended", fmt_clock(ended) if ended else f"not ended (status {run.get('status')})"),
        Fact("Status", str(run.get("status") or DASH)),
        Fact("Run id", str(run.get("run_id") or DASH)),
        Fact("Host", str(run.get("host") or DASH)),
        Fact("Versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v) or DASH),
        Fact("Command line", shlex.join(str(a) for a in run.get("argv") or ()) or DASH),
    ]
    return tuple(facts)


def build_thresholds(summary: Json) -> Table:
    """Every threshold and objective in force, observed against its limit."""
    rows = []
    for t in summary.get("thresholds") or ():
        unit = t.get("unit")
        observed = number(t.get("observed"))
        limit = number(t.get("limit"))
        ok = bool(t.get("ok"))
        rows.append(
            Row(
                (
                    str(t.get("expr", "")),
                    _scope_text(t),
                    fmt_value(observed, unit),
                    f"{t.get('op', '')} {fmt_value(limit, unit)}",
                    fmt_change(observed, limit) if not ok else "",
                    "pass" if ok else "FAIL",
                    str(t.get("message") or "") if not ok or observed is None else "",
                ),
                ok=ok,
            )
        )
    headers = ("Expression", "Scope", "Observed", "Limit", "Off by", "Result", "Note")
    return Table(headers, tuple(rows), frozenset({2, 3, 4}))


def _scope_text(threshold: Json) -> str:
    if threshold.get("scope"):
        return str(threshold["scope"])
    metric = str(threshold.get("metric") or "")
    return "recovery" if metric in RECOVERY_METRICS else "all requests"


def global_thresholds(summary: Json, metric: str) -> list[Json]:
    """Thresholds on `metric` (canonical, e.g. `p(95)`, `rto`) over all requests."""
    return [
        t
        for t in summary.get("thresholds") or ()
        if t.get("metric") == metric and not t.get("scope")
    ]


def thresholds_ok(summary: Json, *metrics: str) -> bool | None:
    """False if a global threshold on any of `metrics` failed, True if all held, None if none."""
    found = [t for m in metrics for t in global_thresholds(summary, m)]
    return None if not found else all(bool(t.get("ok")) for t in found)


ENDPOINT_HEADERS: tuple[str, ...] = (
    "Request", "Requests", "Failures", "Rate", "Errors", "P50", "P95", "P99", "P99.9", "Max",
)  # fmt: skip


def build_endpoints(summary: Json) -> Table:
    """One row per request name (busiest first), then the totals."""
    endpoints: Mapping[str, Json] = summary.get("endpoints") or {}
    order = sorted(endpoints, key=lambda n: -int(endpoints[n].get("requests") or 0))
    rows = [_metrics_row(name, endpoints[name]) for name in order]
    if summary.get("totals"):
        rows.append(_metrics_row("All requests", summary["totals"], strong=True))
    headers = ENDPOINT_HEADERS
    return Table(headers, tuple(rows), frozenset(range(1, 10)))


def _metrics_row(name: str, metrics: Json, strong: bool = False) -> Row:
    latency = metrics.get("latency_ms") or {}
    cells = (
        name,
        fmt_count(metrics.get("requests")),
        fmt_count(metrics.get("failures")),
        fmt_rate(number(metrics.get("rps"))),
        fmt_share(number(metrics.get("error_rate"))),
        *(fmt_ms(number(latency.get(key))) for key in _LATENCY_KEYS),
    )
    return Row(cells, strong=strong)


def build_error_kinds(summary: Json) -> Table:
    """Failures by kind (status code or exception), most frequent first."""
    errors: Mapping[str, int] = (summary.get("totals") or {}).get("errors") or {}
    total = sum(int(v) for v in errors.values()) or 1
    rows = tuple(
        Row((str(kind), fmt_count(count), fmt_share(int(count) / total)))
        for kind, count in sorted(errors.items(), key=lambda kv: -int(kv[1]))
    )
    return Table(("Failure kind", "Count", "Share of failures"), rows, frozenset({1, 2}))


def first_event(events: Sequence[Json], kind: str) -> Json | None:
    """The earliest event of `kind`, or None."""
    found = [e for e in events if e.get("kind") == kind]
    return min(found, key=lambda e: float(e["t"])) if found else None


def build_timeline(
    run: Json, summary: Json, events: Sequence[Json], t0: float, duration_s: float
) -> Timeline:
    """Stages, faults, detection and recovery, in seconds since `t0`, for the charts."""
    stages = sorted((e for e in events if e.get("kind") == "stage"), key=lambda e: e["t"])
    spans = []
    for index, stage in enumerate(stages):
        end = float(stages[index + 1]["t"]) if index + 1 < len(stages) else t0 + duration_s
        spans.append(Span(float(stage["t"]) - t0, end - t0, _stage_label(stage)))
    faults, markers = _fault_spans(events, t0, duration_s)
    markers += [
        Marker(float(e["t"]) - t0, f"worker {e.get('worker')} lost", "worker_lost")
        for e in events
        if e.get("kind") == "worker_lost"
    ]
    recovery = summary.get("recovery") or {}
    injected = first_event(events, "fault_injected")
    t_inject = number(recovery.get("t_injected"))
    if t_inject is None and injected is not None:
        t_inject = float(injected["t"])
    rto: tuple[float, float] | None = None
    label = ""
    if t_inject is not None:
        ttd_s, rto_s = number(recovery.get("ttd_s")), number(recovery.get("rto_s"))
        if ttd_s is not None:
            markers.append(Marker(t_inject + ttd_s - t0, f"detected +{ttd_s:.1f} s", "detected"))
        if rto_s is not None:
            t_recovered = number(recovery.get("t_recovered")) or t_inject + rto_s
            markers.append(Marker(t_recovered - t0, "recovered", "recovered"))
            rto, label = (t_inject - t0, t_recovered - t0), f"RTO {rto_s:.1f} s"
    return Timeline(duration_s, tuple(spans), tuple(faults), tuple(markers), rto, label)


def _stage_label(stage: Json) -> str:
    parts = [str(stage.get("name") or "")]
    rate = number(stage.get("rate_per_s"))
    users = stage.get("users")
    if rate:
        parts.append(f"{rate:g}/s")
    elif users:
        parts.append(f"{users} users")
    return " · ".join(p for p in parts if p)


def _fault_spans(
    events: Sequence[Json], t0: float, duration_s: float
) -> tuple[list[Span], list[Marker]]:
    spans: list[Span] = []
    markers: list[Marker] = []
    open_faults: dict[str, float] = {}
    for event in sorted(events, key=lambda e: float(e["t"])):
        kind, name = event.get("kind"), str(event.get("fault") or "fault")
        at = float(event["t"]) - t0
        if kind == "fault_injected":
            open_faults[name] = at
            markers.append(Marker(at, f"{name} injected", "fault"))
        elif kind == "fault_cleared":
            start = open_faults.pop(name, None)
            markers.append(Marker(at, f"{name} cleared", "cleared"))
            if start is not None:
                spans.append(Span(start, at, name))
    spans += [Span(start, duration_s, name) for name, start in open_faults.items()]
    return spans, markers


def build_key_figures(summary: Json) -> tuple[Fact, ...]:
    """The handful of numbers shown under the verdict."""
    totals: Json = summary.get("totals") or {}
    latency: Json = totals.get("latency_ms") or {}
    judged = partial(thresholds_ok, summary)
    figures = [
        Fact("Requests", fmt_count(totals.get("requests"))),
        Fact("Throughput", fmt_rate(number(totals.get("rps"))), judged("rps")),
        Fact("Error rate", fmt_share(number(totals.get("error_rate"))), judged("error_rate")),
        Fact("P95", fmt_ms(number(latency.get("p95"))), judged("p(95)")),
        Fact("P99", fmt_ms(number(latency.get("p99"))), judged("p(99)")),
    ]
    recovery: Json = summary.get("recovery") or {}
    if recovery:
        verdicts: Json = recovery.get("verdicts") or {}
        rto_s = number(recovery.get("rto_s"))
        rto_ok = _both(verdicts.get("rto", verdicts.get("recovered")), judged("rto"))
        figures.append(
            Fact("RTO", fmt_seconds(rto_s) if rto_s is not None else "not recovered", rto_ok)
        )
        if recovery.get("lost_writes") is not None:
            lost = int(recovery["lost_writes"])
            lost_ok = _both(verdicts.get("rpo"), judged("rpo", "lost_writes"))
            figures.append(Fact("Lost writes", fmt_count(lost), lost_ok))
    return tuple(figures)


def _both(first: bool | None, second: bool | None) -> bool | None:
    """Combine two optional verdicts: False wins, then True, else None."""
    if first is False or second is False:
        return False
    if first is None and second is None:
        return None
    return True
