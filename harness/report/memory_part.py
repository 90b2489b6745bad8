"""The memory part of "Where the time goes": RSS per process over time, growth, warnings.

Reads memory.jsonl through `harness.rundir`, fits growth with `harness.analysis.memory`
(whose docstring defines the steady part and the "grows steadily" criterion) and draws one
line per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from harness.analysis.memory import (
    DEFAULT_CRITERION,
    GrowthCriterion,
    ProcessMemory,
    process_memory,
)
from harness.report.charts import _figure, _legend, _style, _time_axis, to_data_uri
from harness.report.sections import Row, Table
from harness.rundir import RunDir, read_memory

_ROLE_ORDER = {"service": 0, "master": 1, "worker": 2}
_MAX_LINES = 12


@dataclass(frozen=True)
class MemoryView:
    """The chart, the per-process table, the warnings and the criterion in words."""

    chart: str
    table: Table
    warnings: tuple[str, ...]
    criterion: str


def build_memory(
    run_dir: Path, t0: float, criterion: GrowthCriterion = DEFAULT_CRITERION
) -> MemoryView | None:
    """The memory part for `run_dir`, or None when it has no memory.jsonl samples."""
    path = RunDir(run_dir).memory
    if not path.is_file():
        return None
    processes = sorted(
        process_memory(read_memory(path), criterion),
        key=lambda p: (_ROLE_ORDER.get(p.role, 3), p.t[0]),
    )
    if not processes:
        return None
    warnings = tuple(
        f"{p.process} grows steadily: {p.slope_mb_per_h:+,.0f} MB/h "
        f"(R² {p.r2:.2f} over {p.steady_span_s:.0f} s, now {p.last_mb:,.1f} MB)"
        for p in processes
        if p.growing and p.slope_mb_per_h is not None and p.r2 is not None
    )
    return MemoryView(
        chart=to_data_uri(memory_figure(processes, t0)),
        table=_table(processes),
        warnings=warnings,
        criterion=(
            f"Growth is the least-squares slope of RSS over each process's steady part (after "
            f"the first {criterion.warmup_share:.0%} of its samples). A process is flagged when "
            f"the slope exceeds {criterion.min_slope_mb_per_h:g} MB/h with R² ≥ "
            f"{criterion.min_r2:g} over at least {criterion.min_span_s:g} s and a rise of at "
            f"least {criterion.min_growth_mb:g} MB."
        ),
    )


def _table(processes: Sequence[ProcessMemory]) -> Table:
    rows = []
    for p in processes:
        slope = "—" if p.slope_mb_per_h is None else f"{p.slope_mb_per_h:+,.1f}"
        r2 = "—" if p.r2 is None else f"{p.r2:.2f}"
        verdict = "grows steadily" if p.growing else "steady"
        cells = (p.process, p.role, f"{len(p.t):,}", f"{p.peak_mb:,.1f}", f"{p.last_mb:,.1f}",
                 slope, r2, f"{p.steady_span_s:,.0f} s", verdict)  # fmt: skip
        rows.append(Row(cells, ok=False if p.growing else None))
    headers = ("Process", "Role", "Samples", "Peak MB", "Last MB", "Growth MB/h", "R²",
               "Steady span", "Verdict")  # fmt: skip
    return Table(headers, tuple(rows), frozenset({2, 3, 4, 5, 6, 7}))


def memory_figure(processes: Sequence[ProcessMemory], t0: float) -> Figure:
    """RSS in MB over time since the run's start, one line per process (the biggest first
    when there are more than a chart can tell apart)."""
    fig, (ax,) = _figure(3.0)
    shown = sorted(processes, key=lambda p: -p.peak_mb)[:_MAX_LINES]
    end_s = 1.0
    for p in shown:
        x = np.asarray(p.t) - t0
        end_s = max(end_s, float(x[-1]))
        style = "--" if p.growing else "-"
        label = f"{p.process} (growing)" if p.growing else p.process
        ax.plot(x, p.rss_mb, lw=1.3, ls=style, label=label)
    ax.set_ylim(bottom=0)
    _style(ax, "RSS (MB)")
    _time_axis(ax, 0.0, end_s)
    _legend(ax, ncol=min(len(shown), 4))
    return fig
