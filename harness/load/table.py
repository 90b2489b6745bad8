"""The end-of-run table, rendered from summary.json's document (no Locust here)."""

from __future__ import annotations

from typing import Any

COLUMNS = ("requests", "failures", "rps", "p50", "p95", "p99", "p99.9", "max")


def _row(name: str, metrics: dict[str, Any]) -> list[str]:
    latency = metrics.get("latency_ms") or {}
    cells = [name, str(metrics.get("requests", 0)), str(metrics.get("failures", 0))]
    cells.append(f"{metrics.get('rps', 0.0):.1f}")
    for key in COLUMNS[3:]:
        value = latency.get(key)
        cells.append("-" if value is None else f"{value:.2f}")
    return cells


def summary_table(summary: dict[str, Any]) -> str:
    """Per endpoint and in total: requests, failures, rps, p50/p95/p99/p99.9/max in ms."""
    header = ["name", *COLUMNS[:3], *(f"{c} ms" for c in COLUMNS[3:])]
    rows = [_row(name, m) for name, m in sorted(summary.get("endpoints", {}).items())]
    rows.append(_row("total", summary.get("totals", {})))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    lines = [fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]
    for result in summary.get("thresholds", []):
        mark = "ok  " if result.get("ok") else "FAIL"
        lines.append(f"{mark} {result.get('expr')}: {result.get('message', '')}")
    workers = summary.get("workers", {})
    lines.append(
        f"workers {workers.get('count', 0)} (lost {workers.get('lost', 0)})  "
        f"verdict {summary.get('verdict', '?')}"
    )
    return "\n".join(lines)
