"""Charts: labelled axes with units, the timeline marked, the RTO annotated, PNGs inlined."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from harness.analysis.timeseries import (
    CountsDecoder,
    LatencyDistribution,
    fine_counts_from,
    latency_distribution,
    read_intervals,
    timeseries_from,
)
from harness.report import charts
from harness.report.charts import Marker, Span, Timeline
from harness.testing import SyntheticRun, make_run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SyntheticRun:
    return make_run_dir(
        tmp_path_factory.mktemp("charts") / "run", duration_s=60, rate_per_s=80, seed=5,
        failure_windows=[(20, 26, 0.9)], slow_windows=[(26, 30, 30.0)],
    )  # fmt: skip


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    return Timeline(
        duration_s=60.0,
        stages=(Span(0, 10, "warm-up · 20/s"), Span(10, 60, "steady · 80/s")),
        faults=(Span(20, 32, "kill-primary"),),
        markers=(
            Marker(20, "kill-primary injected", "fault"),
            Marker(21.5, "detected +1.5 s", "detected"),
            Marker(32.3, "recovered", "recovered"),
            Marker(32, "kill-primary cleared", "cleared"),
        ),
        rto=(20.0, 32.3),
        rto_label="RTO 12.3 s",
    )


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _legend(fig: Figure, index: int = 0) -> list[str]:
    legend = fig.axes[index].get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def _png_size(uri: str) -> tuple[int, int]:
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.split(",", 1)[1], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_latency_chart_marks_stages_fault_and_rto(run: SyntheticRun, timeline: Timeline) -> None:
    series = timeseries_from(read_intervals(run.path))
    fig = charts.latency_figure(series, run.started_at, timeline)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Latency of successes (ms)"
    assert ax.get_xlabel() == "Time since start (m:ss)"
    assert ax.get_yscale() == "log"  # the slow window makes the range wide
    assert "RTO 12.3 s" in _texts(fig)
    assert " warm-up · 20/s" in _texts(fig) and " steady · 80/s" in _texts(fig)
    labels = _legend(fig)
    assert labels[:4] == ["P50", "P95", "P99", "P99.9"]
    assert set(labels[4:]) == {"fault injected", "detected", "recovered", "fault cleared"}
    width, height = _png_size(charts.to_data_uri(fig))
    assert width == 1440 and 300 < height < 700


def test_throughput_chart_has_rates_and_error_share(run: SyntheticRun, timeline: Timeline) -> None:
    series = timeseries_from(read_intervals(run.path), 5.0)
    fig = charts.throughput_figure(series, run.started_at, timeline)
    top, bottom = fig.axes
    assert top.get_ylabel() == "Throughput (req/s)" and bottom.get_ylabel() == "Errors (%)"
    assert bottom.get_ylim()[1] >= 90  # the 90 % failure window is in view
    assert _legend(fig)[:2] == ["successes / s", "failures / s"]
    assert _texts(fig).count("RTO 12.3 s") == 1
    _png_size(charts.to_data_uri(fig))


def test_recovery_chart_zooms_on_the_fault(run: SyntheticRun, timeline: Timeline) -> None:
    cols = read_intervals(run.path)
    fine = fine_counts_from(cols, run.started_at + 10, run.started_at + 45)
    fig = charts.recovery_figure(fine, run.started_at, timeline, (10.0, 45.0))
    ax = fig.axes[0]
    assert ax.get_xlim() == (10.0, 45.0)
    assert ax.get_ylabel() == "Rate, 100 ms slots (req/s)"
    assert "RTO 12.3 s" in _texts(fig)
    _png_size(charts.to_data_uri(fig))


def test_distribution_chart_keeps_failures_apart(run: SyntheticRun) -> None:
    cols = read_intervals(run.path)
    dist = latency_distribution(cols)
    fig = charts.distribution_figure(dist)
    hist_ax, cdf_ax = fig.axes
    assert hist_ax.get_xscale() == "log" and cdf_ax.get_yscale() == "logit"
    assert hist_ax.get_xlabel() == "Latency (ms, log scale)"
    names = _legend(fig)
    assert names[0].startswith("successes (n=") and names[1].startswith("failures (n=")
    assert f"{int(dist.fail_counts.sum()):,}" in names[1]
    _png_size(charts.to_data_uri(fig))


def test_distribution_without_failures_or_data() -> None:
    decoder = CountsDecoder()
    ok = decoder.zeros()
    ok[3000:3010] = 5
    only_ok = LatencyDistribution(decoder.values_us, ok, decoder.zeros())
    assert len(_legend(charts.distribution_figure(only_ok))) == 1
    empty = LatencyDistribution(decoder.values_us, decoder.zeros(), decoder.zeros())
    _png_size(charts.to_data_uri(charts.distribution_figure(empty)))


def test_an_hour_is_ticked_on_round_clock_values() -> None:
    t = np.arange(0, 3600, 10.0)
    series = pd.DataFrame({"t": t, "requests": 100, "failures": 0, "covered_s": 10.0,
                           "error_rate": 0.0, "p50_ms": 10.0, "p95_ms": 20.0,
                           "p99_ms": 30.0, "p99_9_ms": 40.0})  # fmt: skip
    fig = charts.latency_figure(series, 0.0, Timeline(duration_s=3600.0))
    ax = fig.axes[0]
    ticks = [v for v in ax.get_xticks() if 0 <= v <= 3600]
    assert ticks == [0, 600, 1200, 1800, 2400, 3000, 3600]
    assert ax.get_xlabel() == "Time since start (h:mm:ss)"
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0


def test_clock_labels() -> None:
    assert charts._clock(45) == "0:45"
    assert charts._clock(750) == "12:30"
    assert charts._clock(3723) == "1:02:03"
    assert charts._clock(600, with_hours=True) == "0:10:00"


def test_narrow_rto_label_moves_beside_the_arrow() -> None:
    series = pd.DataFrame({"t": np.arange(0, 3600, 10.0), "requests": 10, "failures": 0,
                           "covered_s": 10.0, "error_rate": 0.0, "p50_ms": 1.0,
                           "p95_ms": 2.0, "p99_ms": 3.0, "p99_9_ms": 4.0})  # fmt: skip
    line = Timeline(duration_s=3600.0, rto=(1800.0, 1812.0), rto_label="RTO 12.0 s")
    fig = charts.latency_figure(series, 0.0, line)
    label = next(t for t in fig.axes[0].texts if t.get_text() == "RTO 12.0 s")
    assert label.get_horizontalalignment() == "left" and label.get_position()[0] > 1812.0


def test_recovery_chart_leaves_out_markers_beyond_its_window(run: SyntheticRun) -> None:
    line = Timeline(
        duration_s=60.0, markers=(Marker(20, "f", "fault"), Marker(55, "w", "worker_lost"))
    )
    fine = fine_counts_from(read_intervals(run.path), run.started_at + 10, run.started_at + 40)
    fig = charts.recovery_figure(fine, run.started_at, line, (10.0, 40.0))
    assert "worker lost" not in _legend(fig) and "fault injected" in _legend(fig)


def test_the_throughput_chart_shows_dropped_starts(tmp_path: Path, timeline: Timeline) -> None:
    lines = [{"t": 1_000.0 + s, "dt_s": 1.0, "name": "GET /", "requests": 50, "failures": 0}
             for s in range(6)]  # fmt: skip
    lines += [{"t": 1_003.0, "dt_s": 1.0, "name": "(arrivals)", "requests": 0, "failures": 0,
               "iterations": 40, "dropped_iterations": 12}]  # fmt: skip
    (tmp_path / "run.json").write_text("{}", encoding="utf-8")
    (tmp_path / "intervals.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8"
    )
    series = timeseries_from(read_intervals(tmp_path))
    assert series["dropped"].tolist() == [0, 0, 0, 12, 0, 0]
    fig = charts.throughput_figure(series, 1_000.0, timeline)
    assert "dropped starts / s" in _legend(fig)
    closed = charts.throughput_figure(series.assign(dropped=0), 1_000.0, timeline)
    assert "dropped starts / s" not in _legend(closed)  # a closed model has none to show
