"""The report's charts: matplotlib figures drawn with the Agg backend, inlined as PNG data URIs.

Each chart is its own `Figure` with explicit axes (no pyplot, no global state), so charts can
be drawn from any thread and nothing leaks between reports. Time axes show seconds since the
run started; every chart of a run marks the same stages, faults, detection and recovery
(`Timeline`) in the same colours.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MultipleLocator,
    NullFormatter,
    NullLocator,
)

from harness.analysis.timeseries import LatencyDistribution

# One palette for the whole report (the CSS uses the same values).
INK = "#1e293b"
MUTED = "#64748b"
GRID = "#e2e8f0"
OK_COLOR = "#2563eb"
FAIL_COLOR = "#dc2626"
FAULT_COLOR = "#dc2626"
DETECT_COLOR = "#d97706"
DROPPED_COLOR = "#7c3aed"
RECOVER_COLOR = "#16a34a"
STAGE_FILL = ("#f1f5f9", "#ffffff")
PERCENTILE_COLORS = {
    "p50_ms": "#2563eb",
    "p95_ms": "#0d9488",
    "p99_ms": "#9333ea",
    "p99_9_ms": "#475569",
}
PERCENTILE_LABELS = {"p50_ms": "P50", "p95_ms": "P95", "p99_ms": "P99", "p99_9_ms": "P99.9"}
#: marker kind -> (colour, line style, legend text)
MARKER_STYLES = {
    "fault": (FAULT_COLOR, "-", "fault injected"),
    "cleared": (FAULT_COLOR, ":", "fault cleared"),
    "detected": (DETECT_COLOR, "--", "detected"),
    "recovered": (RECOVER_COLOR, "-", "recovered"),
    "worker_lost": (MUTED, "-.", "worker lost"),
}
_WIDTH_IN = 10.0
_DPI = 144


@dataclass(frozen=True)
class Span:
    """A stretch of the run, in seconds since its start (a stage, or a fault while active)."""

    start_s: float
    end_s: float
    label: str


@dataclass(frozen=True)
class Marker:
    """A moment of the run, in seconds since its start."""

    t_s: float
    label: str
    kind: str  # "fault", "cleared", "detected", "recovered", "worker_lost"


@dataclass(frozen=True)
class Timeline:
    """What every time chart marks: stages, faults, and the RTO when there was a recovery."""

    duration_s: float
    stages: Sequence[Span] = ()
    faults: Sequence[Span] = ()
    markers: Sequence[Marker] = ()
    rto: tuple[float, float] | None = None  # (injected_s, recovered_s)
    rto_label: str = ""


def to_data_uri(fig: Figure) -> str:
    """Render `fig` to PNG and return it as a `data:image/png;base64,...` URI."""
    canvas = FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    canvas.print_png(buffer)  # type: ignore[no-untyped-call]
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(
    height_in: float, rows: int = 1, height_ratios: Sequence[float] | None = None
) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(_WIDTH_IN, height_in), dpi=_DPI, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False, height_ratios=height_ratios)
    return fig, [ax for (ax,) in axes]


def _style(ax: Axes, ylabel: str) -> None:
    ax.set_ylabel(ylabel, color=INK, fontsize=9)
    ax.tick_params(colors=MUTED, labelsize=8, length=3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(GRID)
    ax.grid(True, axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _clock(seconds: float, with_hours: bool = False) -> str:
    """Tick label for seconds since start: `12:30`, or `1:02:03` with hours."""
    whole = round(seconds)
    sign = "-" if whole < 0 else ""
    hours, rest = divmod(abs(whole), 3600)
    minutes, secs = divmod(rest, 60)
    if hours or with_hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes}:{secs:02d}"


_TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


def _time_axis(ax: Axes, start_s: float, end_s: float) -> None:
    """Seconds since start on x, ticked at round clock values (every 10:00, not 8:20)."""
    end_s = max(end_s, start_s + 1.0)
    ax.set_xlim(start_s, end_s)
    span_s = end_s - start_s
    step = next((s for s in _TICK_STEPS_S if span_s / s <= 8), _TICK_STEPS_S[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step))
    with_hours = end_s >= 3600
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: _clock(value, with_hours)))
    unit = "h:mm:ss" if with_hours else "m:ss"
    ax.set_xlabel(f"Time since start ({unit})", color=INK, fontsize=9)


def _mark_timeline(
    ax: Axes,
    timeline: Timeline,
    label_stages: bool,
    span_s: float,
    visible: tuple[float, float] | None = None,
) -> None:
    """Shade stages and faults; draw detection and recovery lines; annotate the RTO.

    `span_s` is the width of the x axis, to place the RTO label where it stays readable;
    markers outside `visible` (seconds since start) are left out, legend included.
    """
    for index, stage in enumerate(timeline.stages):
        ax.axvspan(stage.start_s, stage.end_s, color=STAGE_FILL[index % 2], zorder=0, lw=0)
        if label_stages and stage.label:
            ax.text(
                stage.start_s,
                0.98,
                f" {stage.label}",
                transform=ax.get_xaxis_transform(),
                fontsize=7.5,
                color=MUTED,
                va="top",
                ha="left",
                clip_on=True,
            )
    for fault in timeline.faults:
        ax.axvspan(fault.start_s, fault.end_s, color=FAULT_COLOR, alpha=0.08, zorder=0, lw=0)
    drawn: set[str] = set()
    for marker in timeline.markers:
        if visible is not None and not visible[0] <= marker.t_s <= visible[1]:
            continue
        color, style, name = MARKER_STYLES.get(marker.kind, (MUTED, ":", marker.kind))
        label = name if label_stages and marker.kind not in drawn else None
        drawn.add(marker.kind)
        ax.axvline(marker.t_s, color=color, linestyle=style, linewidth=1.2, zorder=3, label=label)
    if timeline.rto is not None and label_stages:
        _annotate_rto(ax, timeline, span_s)


def _annotate_rto(ax: Axes, timeline: Timeline, span_s: float) -> None:
    """A double arrow from injection to recovery, labelled; beside it when it is narrow."""
    assert timeline.rto is not None
    start_s, end_s = timeline.rto
    transform = ax.get_xaxis_transform()
    narrow = (end_s - start_s) < 0.08 * max(span_s, 1e-9)
    ax.annotate(
        "",
        xy=(end_s, 0.86),
        xytext=(start_s, 0.86),
        xycoords=transform,
        textcoords=transform,
        arrowprops={"arrowstyle": "<->", "color": RECOVER_COLOR, "lw": 1.4},
        zorder=4,
    )
    ax.text(
        end_s + 0.01 * span_s if narrow else (start_s + end_s) / 2,
        0.83 if narrow else 0.88,
        timeline.rto_label,
        transform=transform,
        ha="left" if narrow else "center",
        va="bottom",
        fontsize=8.5,
        fontweight="bold",
        color=RECOVER_COLOR,
        zorder=4,
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
    )


def _legend(ax: Axes, ncol: int | None = None) -> None:
    """One row above the axes: data series first, then the timeline's markers."""
    handles, labels = ax.get_legend_handles_labels()
    marker_names = {name for _, _, name in MARKER_STYLES.values()}
    order = sorted(range(len(labels)), key=lambda i: labels[i] in marker_names)
    ax.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncol=ncol or max(len(labels), 1),
        frameon=False,
        fontsize=8,
        handlelength=1.6,
        columnspacing=1.2,
        borderaxespad=0.2,
    )


def latency_figure(ts: pd.DataFrame, t0: float, timeline: Timeline) -> Figure:
    """P50/P95/P99/P99.9 of successes per bucket over time (log y when the range is wide)."""
    fig, (ax,) = _figure(3.4)
    x = ts["t"].to_numpy() - t0
    _mark_timeline(ax, timeline, label_stages=True, span_s=timeline.duration_s)
    values = []
    for column, label in PERCENTILE_LABELS.items():
        y = ts[column].to_numpy()
        values.append(y[np.isfinite(y)])
        ax.plot(x, y, color=PERCENTILE_COLORS[column], lw=1.3, label=label, zorder=2)
    finite = np.concatenate(values) if values else np.array([])
    finite = finite[finite > 0]
    if finite.size and finite.max() / finite.min() > 20:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(_ms_label))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(bottom=0)
    _style(ax, "Latency of successes (ms)")
    _time_axis(ax, 0.0, timeline.duration_s)
    _legend(ax)
    return fig


def _ms_label(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value:g}"


def _step_edges(starts: np.ndarray) -> np.ndarray:
    """Bucket starts plus the end of the last bucket, so a step plot draws every bucket."""
    width = float(starts[1] - starts[0]) if len(starts) > 1 else 1.0
    return np.append(starts, starts[-1] + width) if len(starts) else starts


def _repeat_last(values: np.ndarray) -> np.ndarray:
    return np.append(values, values[-1]) if len(values) else values


def throughput_figure(ts: pd.DataFrame, t0: float, timeline: Timeline) -> Figure:
    """Requests per second (successes and failures; an open model's dropped starts) and the
    error rate over time."""
    fig, (top, bottom) = _figure(4.4, rows=2, height_ratios=(2.2, 1.0))
    x = _step_edges(ts["t"].to_numpy() - t0)
    covered = ts["covered_s"].to_numpy()
    ok_rate = _repeat_last((ts["requests"] - ts["failures"]).to_numpy() / covered)
    fail_rate = _repeat_last(ts["failures"].to_numpy() / covered)
    for ax in (top, bottom):
        _mark_timeline(ax, timeline, label_stages=ax is top, span_s=timeline.duration_s)
    top.fill_between(x, 0, ok_rate, step="post", color=OK_COLOR, alpha=0.15, lw=0)
    top.step(x, ok_rate, where="post", color=OK_COLOR, lw=1.2, label="successes / s")
    top.fill_between(x, 0, fail_rate, step="post", color=FAIL_COLOR, alpha=0.2, lw=0)
    top.step(x, fail_rate, where="post", color=FAIL_COLOR, lw=1.2, label="failures / s")
    if "dropped" in ts and ts["dropped"].to_numpy().any():  # open model: starts never made
        dropped_rate = _repeat_last(ts["dropped"].to_numpy() / covered)
        top.step(x, dropped_rate, where="post", color=DROPPED_COLOR, lw=1.2, ls="--",
                 label="dropped starts / s")  # fmt: skip
    top.set_ylim(bottom=0)
    _style(top, "Throughput (req/s)")
    _legend(top)
    error_pct = _repeat_last(ts["error_rate"].to_numpy() * 100)
    bottom.step(x, error_pct, where="post", color=FAIL_COLOR, lw=1.2)
    bottom.set_ylim(0, max(1.0, float(np.nanmax(error_pct, initial=0.0)) * 1.15))
    _style(bottom, "Errors (%)")
    _time_axis(bottom, 0.0, timeline.duration_s)
    return fig


def recovery_figure(
    fine: pd.DataFrame, t0: float, timeline: Timeline, window: tuple[float, float]
) -> Figure:
    """Successes and failures per second at 100 ms resolution around the fault."""
    fig, (ax,) = _figure(3.0)
    start_s, end_s = window
    x = fine["t"].to_numpy() - t0
    keep = (x >= start_s) & (x <= end_s)
    x = x[keep]
    slot_s = 0.1
    ok = fine["ok"].to_numpy()[keep] / slot_s
    fail = fine["fail"].to_numpy()[keep] / slot_s
    _mark_timeline(ax, timeline, True, end_s - start_s, visible=(start_s, end_s))
    ax.fill_between(x, 0, ok, step="post", color=OK_COLOR, alpha=0.15, lw=0)
    ax.step(x, ok, where="post", color=OK_COLOR, lw=0.9, label="successes / s")
    ax.fill_between(x, 0, fail, step="post", color=FAIL_COLOR, alpha=0.25, lw=0)
    ax.step(x, fail, where="post", color=FAIL_COLOR, lw=0.9, label="failures / s")
    ax.set_ylim(bottom=0, top=max(1.0, float(np.max(np.concatenate([ok, fail]), initial=0))) * 1.25)
    _style(ax, "Rate, 100 ms slots (req/s)")
    _time_axis(ax, start_s, end_s)
    _legend(ax)
    return fig


def distribution_figure(dist: LatencyDistribution) -> Figure:
    """Latency distribution of successes and failures: share per log bucket, and percentiles.

    The right panel is the cumulative distribution on a logit scale, so the tail (P99,
    P99.9, P99.99) gets as much room as the median.
    """
    fig = Figure(figsize=(_WIDTH_IN, 3.4), dpi=_DPI, layout="constrained")
    hist_ax, cdf_ax = fig.subplots(1, 2)
    values_ms = dist.values_us / 1000.0
    series = (("successes", dist.ok_counts, OK_COLOR), ("failures", dist.fail_counts, FAIL_COLOR))
    present = [(label, counts, color) for label, counts, color in series if counts.sum() > 0]
    low, high = _range_ms(values_ms, [c for _, c, _ in present])
    edges = np.geomspace(low, high, 60)
    most = max((int(c.sum()) for _, c, _ in present), default=1)
    top_q = _top_quantile(most)
    for label, counts, color in present:
        total = int(counts.sum())
        legend = f"{label} (n={total:,})"
        share, _ = np.histogram(values_ms, bins=edges, weights=counts)
        hist_ax.stairs(share / total * 100, edges, color=color, fill=True, alpha=0.25)
        hist_ax.stairs(share / total * 100, edges, color=color, lw=1.2, label=legend)
        nonzero = counts > 0
        cumulative = np.clip(np.cumsum(counts[nonzero]) / total, 1e-6, top_q)
        cdf_ax.step(values_ms[nonzero], cumulative, where="post", color=color, lw=1.4, label=legend)
    for ax, ylabel in ((hist_ax, "Share of requests (%)"), (cdf_ax, "Percentile (logit scale)")):
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_major_formatter(FuncFormatter(_ms_label))
        ax.set_xlabel("Latency (ms, log scale)", color=INK, fontsize=9)
        _style(ax, ylabel)
        ax.grid(True, axis="x", color=GRID, linewidth=0.6, which="major")
        if present:
            _legend(ax, 1)
    cdf_ax.set_yscale("logit")
    ticks = [q for q in _PERCENTILE_TICKS if q <= top_q]
    cdf_ax.set_ylim(0.01, top_q)
    cdf_ax.yaxis.set_major_locator(FixedLocator(ticks))
    cdf_ax.yaxis.set_major_formatter(FuncFormatter(lambda q, _pos: f"P{q * 100:g}"))
    cdf_ax.yaxis.set_minor_locator(NullLocator())
    return fig


_PERCENTILE_TICKS = (0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999)


def _top_quantile(count: int) -> float:
    """The highest percentile worth showing for `count` samples (P99.99 needs 10^4)."""
    for q in (0.99999, 0.9999, 0.999, 0.99):
        if count * (1 - q) >= 1:
            return q
    return 0.99


def _range_ms(values_ms: np.ndarray, counts: list[np.ndarray]) -> tuple[float, float]:
    if not counts:
        return 0.1, 1000.0
    used = np.flatnonzero(np.sum(counts, axis=0))
    low = float(values_ms[used[0]]) / 1.5
    high = float(values_ms[used[-1]]) * 1.5
    return max(low, 0.001), max(high, low * 10)
