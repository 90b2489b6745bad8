"""A Markdown summary of a run, fit for a pull-request comment (GitHub-flavoured tables).

Verdict first, then the thresholds table, key figures per request name, recovery figures
for scenarios, and the comparison with a baseline when there is one. Reads only the
typed summary (and optionally the baseline's), like every report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.report.baseline import baseline_deltas
from harness.rundir import Metrics, Recovery, Summary, ThresholdRow, as_summary
from harness.rundir.deltas import BaselineDeltas

MAX_ENDPOINTS = 25
_VERDICT = {
    "pass": "✅ PASS",
    "fail": "❌ FAIL",
    "aborted": "🛑 ABORTED",
    "incomplete": "⏹️ INCOMPLETE",
    "error": "💥 ERROR",
}
_RECOVERY = (
    ("rto_s", "RTO", "s"),
    ("ttd_s", "Time to detect", "s"),
    ("outage_s", "Outage", "s"),
    ("rpo_s", "RPO", "s"),
    ("lost_writes", "Lost writes", ""),
    ("containment_s", "Containment", "s"),
    ("unauthorized_ok", "Unauthorized successes", ""),
)


def render_markdown(
    summary: Summary | Mapping[str, object], baseline: Summary | Mapping[str, object] | None = None
) -> str:
    """The Markdown summary; `baseline` is the baseline run's summary, compared here.

    Without it, a comparison already stored in the summary (`summary.baseline`) is used.
    """
    s = as_summary(summary)
    base = None if baseline is None else as_summary(baseline)
    parts = [_headline(s), _thresholds(s.thresholds), _figures(s)]
    if s.recovery is not None:
        parts.append(_recovery(s.recovery))
    deltas = baseline_deltas(s, base)
    if deltas is not None:
        parts.append(_baseline(deltas))
    return "\n\n".join(p for p in parts if p) + "\n"


def _headline(s: Summary) -> str:
    profile = f" · profile `{s.profile}`" if s.profile else ""
    title = _cell(s.scenario or s.run_id or "run")
    lines = [f"### {_VERDICT[s.verdict.value]} — {title}{profile}"]
    totals = s.totals
    facts = [
        f"status **{s.status.value}**",
        f"{_num(s.duration_s, 1)} s",
        f"{_int(totals.requests)} requests",
        f"{_num(totals.rps, 1)} req/s",
        f"{_pct(totals.error_rate)} errors",
    ]
    if s.workers_count or s.workers_lost:
        lost = f", {s.workers_lost} lost" if s.workers_lost else ""
        facts.append(f"{s.workers_count} workers{lost}")
    lines.append(" · ".join(facts))
    if not s.complete:
        lines.append("> ⚠️ The run did not finish: these figures cover what it recorded.")
    if s.error:
        lines.append(f"> Run error: {_cell(s.error)}")
    return "\n\n".join(lines)


def _thresholds(thresholds: Sequence[ThresholdRow]) -> str:
    if not thresholds:
        return "_No thresholds were set._"
    failed = sum(1 for t in thresholds if not t.ok)
    rows = ["| | Threshold | Result |", "|---|---|---|"]
    for t in thresholds:
        mark = "✅" if t.ok else "❌"
        rows.append(f"| {mark} | `{_code(t.expr)}` | {_cell(t.message)} |")
    head = f"**Thresholds:** {len(thresholds) - failed} of {len(thresholds)} held"
    return head + "\n\n" + "\n".join(rows)


def _figures(s: Summary) -> str:
    rows = [
        "| Request | Requests | req/s | Errors | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    rows.append(_figure_row("**All**", s.totals))
    endpoints = s.endpoints
    busiest = sorted(endpoints, key=lambda n: -endpoints[n].requests)
    for name in busiest[:MAX_ENDPOINTS]:
        rows.append(_figure_row(_cell(name), endpoints[name]))
    table = "\n".join(rows)
    if len(busiest) > MAX_ENDPOINTS:
        table += f"\n\n_{len(busiest) - MAX_ENDPOINTS} less busy request names not shown._"
    return table


def _figure_row(label: str, metrics: Metrics) -> str:
    latency = metrics.latency_ms
    cells = [
        label,
        _int(metrics.requests),
        _num(metrics.rps, 1),
        _pct(metrics.error_rate),
        *(_num(latency.stat(k), 1) for k in ("p50", "p95", "p99", "p99.9", "max")),
    ]
    return "| " + " | ".join(cells) + " |"


def _recovery(recovery: Recovery) -> str:
    cells = []
    for key, label, unit in _RECOVERY:
        if key in recovery.raw:
            value = recovery.figure(key)
            if value is None:
                shown = "not measured"
            elif unit:
                shown = f"{_num(value, 2)} {unit}"
            else:
                shown = _int(value)
            cells.append(f"{label}: **{shown}**")
    return "**Recovery:** " + " · ".join(cells) if cells else ""


def _baseline(deltas: BaselineDeltas) -> str:
    rows = ["| Metric | Baseline | This run | Change |", "|---|--:|--:|--:|"]
    for metric, delta in deltas.totals.items():
        change = "—" if delta.delta_pct is None else f"{delta.delta_pct:+.1f}%"
        if delta.regression:
            change += " ⚠️"
        fmt = _pct if metric == "error_rate" else (lambda v: _num(v, 1))
        rows.append(f"| {metric} | {fmt(delta.baseline)} | {fmt(delta.current)} | {change} |")
    head = f"**Against baseline `{_code(str(deltas.run_id))}`**"
    regressions = deltas.regressions
    if regressions:
        head += f" — {len(regressions)} regression(s) beyond {_num(deltas.tolerance_pct, 0)}%: "
        head += ", ".join(_cell(r) for r in regressions[:5])
        head += f" and {len(regressions) - 5} more" if len(regressions) > 5 else ""
    return head + "\n\n" + "\n".join(rows)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return text.replace("`", "'").replace("|", "\\|")


def _num(value: Any, digits: int) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{value:,.{digits}f}"


def _int(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) else "—"


def _pct(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value * 100:.2f}%" if value < 0.1 else f"{value * 100:.1f}%"
