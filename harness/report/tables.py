"""Every terminal table the harness prints, rendered from a typed `Summary`.

- `summary_table`: per request name and in total, after a run or a scenario;
- `recovery_table`: a scenario's recovery figures against its objectives;
- `result_table`: the thresholds and the verdict, after `harness gate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.rundir import Metrics, Recovery, Summary, as_summary

COLUMNS = ("requests", "failures", "rps", "p50", "p95", "p99", "p99.9", "max")


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Name column left-aligned, figures right-aligned, a rule under the header."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    return [fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]


def _metrics_row(name: str, metrics: Metrics) -> list[str]:
    cells = [name, str(metrics.requests), str(metrics.failures), f"{metrics.rps:.1f}"]
    for key in COLUMNS[3:]:
        value = metrics.latency_ms.stat(key)
        cells.append("-" if value is None else f"{value:.2f}")
    return cells


def summary_table(summary: Summary | Mapping[str, object]) -> str:
    """Per endpoint and in total: requests, failures, rps, p50/p95/p99/p99.9/max in ms."""
    s = as_summary(summary)
    header = ["name", *COLUMNS[:3], *(f"{c} ms" for c in COLUMNS[3:])]
    rows = [_metrics_row(name, m) for name, m in sorted(s.endpoints.items())]
    rows.append(_metrics_row("total", s.totals))
    lines = _aligned(header, rows)
    for result in s.thresholds:
        lines.append(f"{'ok  ' if result.ok else 'FAIL'} {result.expr}: {result.message}")
    lines.append(f"workers {s.workers_count} (lost {s.workers_lost})  verdict {s.verdict.value}")
    if s.abort is not None:
        lines.append(f"ABORTED by {s.abort.threshold} ({s.abort.source}): {s.abort.message}")
    if s.generator is not None and s.generator.saturated:
        lines.append(
            f"warning: the load generator was saturated ({s.generator.saturated_events} times, "
            f"peak {s.generator.peak_worker_busy_pct or 0:.0f}% busy): see cpu.jsonl"
        )
    if s.extreme is not None:
        lines.append(
            f"extreme: limit {s.extreme.limit}, highest rate that held "
            f"{s.extreme.highest_held_rate_per_s:.1f} req/s ({s.extreme.steps_judged} steps)"
        )
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{float(value):.3f} s"


def _count(value: int | None) -> str:
    return "-" if value is None else str(int(value))


def _objective(recovery: Recovery, key: str) -> str:
    value = recovery.objective(key)
    return "" if value is None else f"<= {float(value):g} s"


def _verdict(recovery: Recovery, key: str) -> str:
    found = recovery.verdict(key)
    if found is None:
        return ""
    return "ok" if found else "FAIL"


def recovery_rows(recovery: Recovery) -> list[tuple[str, str, str, str]]:
    """(figure, observed, objective, verdict) rows of a recovery result."""
    r = recovery
    lost, acked = r.count("lost_writes"), r.count("acknowledged_writes")
    lost_text = _count(lost) if lost is None else f"{lost} of {acked}"
    rto = _seconds(r.rto_s) if r.rto_s is not None else "not recovered"
    rows = [
        ("RTO", rto, _objective(r, "rto_s"), _verdict(r, "rto")),
        ("time to detect", _seconds(r.figure("ttd_s")), "", ""),
        ("outage (first to last failure)", _seconds(r.figure("outage_s")), "", ""),
        ("RPO", _seconds(r.rpo_s), _objective(r, "rpo_s"), _verdict(r, "rpo")),
        ("lost writes", lost_text, "", ""),
    ]
    if r.count("unknown_writes"):
        rows.append(("unknown writes (check failed)", _count(r.count("unknown_writes")), "", ""))
    if r.figure("forged_requests") is not None:
        rows += [
            ("time to containment", _seconds(r.figure("containment_s")),
             _objective(r, "containment_s"), _verdict(r, "containment")),
            ("unauthorized operations ok", _count(r.count("unauthorized_ok")), "", ""),
            ("forged ok after containment", _count(r.count("forged_ok_after_containment")),
             "0", _verdict(r, "no_forged_ok_after_containment")),
            ("legit errors during rotation",
             f"{_count(r.count('legit_errors_during_rotation'))} of "
             f"{_count(r.count('legit_requests_during_rotation'))}", "", ""),
        ]  # fmt: skip
    return rows


def recovery_table(summary: Summary | Mapping[str, object]) -> str:
    """The recovery figures against the objectives, then the measurement's warnings."""
    recovery = as_summary(summary).recovery
    if recovery is None:
        return "recovery: not measured"
    rows = [("recovery", "observed", "objective", "verdict"), *recovery_rows(recovery)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    lines += [f"note: {warning}" for warning in recovery.warnings]
    return "\n".join(lines)


def result_table(summary: Summary | Mapping[str, object]) -> str:
    """A short plain-text table of the thresholds and the verdict, for a terminal."""
    s = as_summary(summary)
    rows = [("", "threshold", "result")]
    rows += [("ok" if t.ok else "FAIL", t.expr, t.message) for t in s.thresholds]
    width = max(len(r[1]) for r in rows)
    lines = [f"{mark:<4}  {expr:<{width}}  {message}".rstrip() for mark, expr, message in rows]
    if not s.thresholds:
        lines = ["no thresholds set"]
    totals = s.totals
    p95 = totals.latency_ms.p95
    figures = (
        f"{totals.requests} requests, {totals.rps:.1f} req/s, "
        f"{totals.error_rate * 100:.2f}% errors"
        + (f", p95 {p95:.1f} ms" if p95 is not None else "")
    )
    complete = "" if s.complete else " (incomplete)"
    lines.append(f"verdict: {s.verdict.value.upper()} — run {s.status.value}{complete}; {figures}")
    if s.abort is not None:
        lines.append(f"aborted by {s.abort.threshold} ({s.abort.source}): {s.abort.message}")
    return "\n".join(lines)
