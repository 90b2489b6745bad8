"""The HTML report of one run directory: one self-contained file a release manager trusts.

`write_report(run_dir)` reads only the run directory (run.json, events.jsonl,
intervals.jsonl, summary.json — computed first when absent — and service-stats.json), draws
the charts, renders `templates/report.html.j2` with autoescaping, and replaces
`run_dir/report.html` atomically. Charts and CSS are inlined; the page loads nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from harness.analysis.timeseries import (
    CountsDecoder,
    fine_counts_from,
    latency_distribution,
    read_intervals,
    timeseries_from,
)
from harness.errors import ConfigError
from harness.report import charts
from harness.report.baseline import build_baseline
from harness.report.resilience import (
    build_recovery,
    build_service,
    build_workers,
    read_service_stats,
)
from harness.report.sections import (
    build_endpoints,
    build_error_kinds,
    build_facts,
    build_key_figures,
    build_thresholds,
    build_timeline,
)
from harness.report.verdict import build_verdict, generator_notes, run_is_incomplete
from harness.report.where_time import build_where_time
from harness.rundir import (
    Event,
    EventKind,
    Manifest,
    RunDir,
    Summary,
    read_events,
    read_manifest,
    read_summary,
)
from harness.rundir.service_stats import ServiceStats

TEMPLATES = Path(__file__).with_name("templates")
_RESOLUTIONS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
_MAX_POINTS = 400


@dataclass
class RenderedReport:
    """The page, and seconds spent per step (`load`, `analysis`, `charts`, `render`)."""

    html: str
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInputs:
    """Everything the report reads from a run directory (and its baseline)."""

    path: Path
    run: Manifest
    events: tuple[Event, ...]
    summary: Summary
    service_stats: ServiceStats | None
    service_stats_source: str
    baseline: Summary | None


def write_report(run_dir: Path, baseline: Path | None = None) -> Path:
    """Render `run_dir/report.html` (atomically) and return its path.

    Raises ConfigError when `run_dir` (or `baseline`) is not a run directory.
    """
    rendered = render_report(run_dir, baseline)
    target = RunDir(Path(run_dir)).report
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(rendered.html, encoding="utf-8")
    os.replace(tmp, target)
    return target


def render_report(run_dir: Path, baseline: Path | None = None) -> RenderedReport:
    """Build the report page in memory, timing each step."""
    timings: dict[str, float] = {}
    with _timed(timings, "load"):
        inputs = load_inputs(Path(run_dir), baseline)
    with _timed(timings, "analysis"):
        analysis = analyse(inputs)
    with _timed(timings, "charts"):
        images = draw_charts(analysis)
    with _timed(timings, "render"):
        html = (
            _environment()
            .get_template("report.html.j2")
            .render(**build_context(inputs, analysis, images))
        )
    return RenderedReport(html, timings)


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[step] = timings.get(step, 0.0) + time.perf_counter() - start


def load_summary(run_dir: Path) -> Summary:
    """summary.json of `run_dir`, computed (and written) first when it is absent."""
    rd = RunDir(run_dir)
    if not rd.summary.is_file():
        from harness.analysis.summary import write_summary

        return write_summary(run_dir)
    return read_summary(rd.path)


def _read_run(run_dir: Path, what: str) -> Manifest:
    if not RunDir(run_dir).exists():
        raise ConfigError(f"{what} is not a run directory (no run.json)", str(run_dir))
    return read_manifest(run_dir)


def load_inputs(run_dir: Path, baseline: Path | None = None) -> RunInputs:
    """Read run.json, events, summary (computing it if absent) and service stats."""
    run = _read_run(run_dir, "RUN_DIR")
    events = tuple(read_events(RunDir(run_dir).events))
    base_summary = None
    if baseline is not None:
        _read_run(Path(baseline), "--baseline")
        base_summary = load_summary(Path(baseline))
    stats, source = read_service_stats(run_dir, events)
    return RunInputs(run_dir, run, events, load_summary(run_dir), stats, source, base_summary)


@dataclass(frozen=True)
class Analysis:
    """Time series and distributions computed from intervals.jsonl for the charts."""

    inputs: RunInputs
    t0: float
    duration_s: float
    resolution_s: float
    timeline: charts.Timeline
    series: Any  # pandas.DataFrame
    fine: Any  # pandas.DataFrame, only around the fault
    recovery_window: tuple[float, float] | None
    distribution: Any  # LatencyDistribution
    unreadable_histograms: int


def chart_resolution_s(duration_s: float) -> float:
    """The finest bucket that keeps a chart under ~400 points (1 s up to 6 min, 10 s for 1 h)."""
    for step in _RESOLUTIONS_S:
        if duration_s / step <= _MAX_POINTS:
            return float(step)
    return float(_RESOLUTIONS_S[-1])


def analyse(inputs: RunInputs) -> Analysis:
    """Read intervals once; derive the chart series, the distribution and 100 ms counts."""
    cols = read_intervals(inputs.path)
    run = inputs.run
    first_t = min(cols.t) if cols.t else None
    t0 = run.started_at or first_t or 0.0
    end = run.ended_at
    if end is None:
        last_t = max(cols.t) + 1.0 if cols.t else t0
        end = max([last_t] + [e.t for e in inputs.events])
    duration_s = max(end - t0, 1.0)
    resolution_s = chart_resolution_s(duration_s)
    decoder = CountsDecoder()
    ok = decoder.zeros()
    series = timeseries_from(cols, resolution_s, decoder, total_ok=ok)
    distribution = latency_distribution(cols, decoder, ok=ok)
    timeline = build_timeline(inputs.summary, inputs.events, t0, duration_s)
    window = recovery_window(timeline, duration_s)
    fine = fine_counts_from(cols, t0 + window[0], t0 + window[1]) if window else None
    return Analysis(
        inputs,
        t0,
        duration_s,
        resolution_s,
        timeline,
        series,
        fine,
        window,
        distribution,
        cols.unreadable_histograms,
    )


def draw_charts(analysis: Analysis) -> dict[str, str]:
    """Every chart as a data URI, keyed by name; charts without data are left out."""
    images: dict[str, str] = {}
    if analysis.series.empty:
        return images
    timeline, t0 = analysis.timeline, analysis.t0
    images["latency"] = charts.to_data_uri(charts.latency_figure(analysis.series, t0, timeline))
    images["throughput"] = charts.to_data_uri(
        charts.throughput_figure(analysis.series, t0, timeline)
    )
    dist = analysis.distribution
    if dist.ok_counts.any() or dist.fail_counts.any():
        images["distribution"] = charts.to_data_uri(charts.distribution_figure(dist))
    window = analysis.recovery_window
    if window is not None and analysis.fine is not None and not analysis.fine.empty:
        images["recovery"] = charts.to_data_uri(
            charts.recovery_figure(analysis.fine, t0, timeline, window)
        )
    return images


def recovery_window(timeline: charts.Timeline, duration_s: float) -> tuple[float, float] | None:
    """Seconds since start charted at 100 ms: from 10 s before the first fault to 15 s after
    the recovery or the fault's end (at least 35 s); None without a fault."""
    starts = [m.t_s for m in timeline.markers if m.kind == "fault"]
    if not starts:
        return None
    ends = [m.t_s for m in timeline.markers if m.kind in ("recovered", "cleared")]
    start = max(min(starts) - 10.0, 0.0)
    end = min(max([*ends, min(starts) + 20.0]) + 15.0, duration_s)
    return (start, end) if end > start else None


def build_context(
    inputs: RunInputs, analysis: Analysis, images: Mapping[str, str]
) -> dict[str, Any]:
    """Everything the template shows, preformatted."""
    run, summary, t0 = inputs.run, inputs.summary, analysis.t0
    notes = [
        f"{e.kind.value}: {e.text('message')}"
        for e in inputs.events
        if e.kind in (EventKind.WARNING, EventKind.ERROR)
    ]
    if analysis.unreadable_histograms:
        notes.append(f"{analysis.unreadable_histograms} unreadable histograms were skipped")
    notes[:0] = generator_notes(summary)
    where = build_where_time(inputs.path, t0)
    if where.memory is not None:  # a leak belongs beside the verdict, not only in its section
        notes += [f"memory: {w}" for w in where.memory.warnings]
    clipped = summary.totals.clipped
    if clipped:
        notes.append(f"{clipped:,} response times fell outside 1 us..120 s and were clipped")
    workers_line, workers_table = build_workers(run, inputs.events, t0)
    title = run.scenario or run.profile or run.run_id or "run"
    return {
        "title": title,
        "run_id": run.run_id or inputs.path.name,
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "verdict": build_verdict(run, summary),
        "key_figures": build_key_figures(summary),
        "notes": notes,
        "incomplete": run_is_incomplete(run),
        "facts": build_facts(run, summary, inputs.events),
        "thresholds": build_thresholds(summary),
        "images": images,
        "resolution_s": analysis.resolution_s,
        "rto_label": analysis.timeline.rto_label,
        "has_fault": bool(analysis.timeline.faults),
        "endpoints": build_endpoints(summary),
        "error_kinds": build_error_kinds(summary),
        "recovery": build_recovery(summary, inputs.events, t0),
        "service": build_service(run, summary, inputs.service_stats, inputs.service_stats_source),
        "workers_line": workers_line,
        "workers": workers_table,
        "baseline": build_baseline(summary, inputs.baseline),
        "where": where,
    }


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def environment() -> jinja2.Environment:
    """The report's Jinja2 environment (autoescaping on, undefined names are errors)."""
    return _environment()
