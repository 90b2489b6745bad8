"""The master's merge: exact against numpy on the same samples, completeness and late data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.analysis.histograms import decode, merge, percentiles_us
from harness.load.aggregator import Aggregator
from harness.load.recorder import IntervalRecorder


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_merge_over_three_workers_matches_numpy_exact_percentiles() -> None:
    rng = np.random.default_rng(7)
    latency_us = np.maximum(rng.lognormal(mean=np.log(20_000), sigma=0.9, size=60_000), 1)
    latency_us = latency_us.round().astype(np.int64)
    t_end = 1_000.0 + rng.uniform(0, 10, size=latency_us.size)  # ten seconds of traffic
    workers = rng.integers(0, 3, size=latency_us.size)
    names = np.where(rng.uniform(size=latency_us.size) < 0.3, "GET /b", "GET /a")

    clock = FakeClock(1_000.0)
    recorders = [IntervalRecorder(clock) for _ in range(3)]
    for value, t, w, name in zip(latency_us, t_end, workers, names, strict=True):
        recorders[w].record(str(name), float(t), int(value))
    lines: list[dict[str, Any]] = []
    agg = Aggregator(lines.append, clock=clock)
    for w, rec in enumerate(recorders):
        agg.worker_joined(f"w{w}", 1_000.0)
        agg.add(f"w{w}", rec.take(final=True), through_t=1_011.0)
    assert agg.flush() > 0
    assert len(lines) == 20 and all(line["workers"] == 3 for line in lines)
    assert sum(line["requests"] for line in lines) == latency_us.size

    for name in (None, "GET /a", "GET /b"):
        chosen = [ln["hdr"] for ln in lines if name is None or ln["name"] == name]
        mask = np.ones(latency_us.size, bool) if name is None else names == name
        merged = percentiles_us(merge(chosen), (50.0, 95.0, 99.0, 99.9))
        for p, got in merged.items():
            exact = _nearest_rank(latency_us[mask], p)
            assert abs(got - exact) / exact <= 0.001, (name, p, got, exact)
            # numpy's own definition picks the same or the next order statistic
            assert exact <= np.percentile(latency_us[mask], p, method="higher") * 1.001


def _nearest_rank(values: np.ndarray, p: float) -> int:
    """The exact percentile with HdrHistogram's rank rule: rank round(p% of n), at least 1."""
    ordered = np.sort(values)
    rank = max(int(p / 100 * values.size + 0.5), 1)
    return int(ordered[rank - 1])


def _entry(t: int, name: str = "GET /a", n: int = 1) -> dict[str, Any]:
    rec = IntervalRecorder(FakeClock(0))
    for _ in range(n):
        rec.record(name, t + 0.5, 1_000)
    (entry,) = rec.take(final=True)
    return entry


def test_waits_for_every_live_worker_then_grace() -> None:
    clock = FakeClock(101.2)
    lines: list[dict[str, Any]] = []
    agg = Aggregator(lines.append, clock=clock, grace_s=2.5)
    agg.worker_joined("a", 100.0)
    agg.worker_joined("b", 100.0)
    agg.add("a", [_entry(100)], through_t=101.0)
    assert agg.flush() == 0  # b has not reported second 100 yet
    agg.add("b", [_entry(100, n=2)], through_t=101.0)
    assert agg.flush() == 1
    assert lines[-1]["requests"] == 3 and lines[-1]["workers"] == 2
    agg.add("a", [_entry(101)], through_t=102.0)
    clock.t = 103.4
    assert agg.flush() == 0  # still within grace for b
    clock.t = 104.6
    assert agg.flush() == 1 and lines[-1]["workers"] == 1


def test_late_data_is_another_line_and_lost_workers_are_not_waited_for() -> None:
    clock = FakeClock(101.2)
    lines: list[dict[str, Any]] = []
    agg = Aggregator(lines.append, clock=clock)
    agg.worker_joined("a", 100.0)
    agg.worker_joined("b", 100.0)
    agg.add("a", [_entry(100)], through_t=101.0)
    agg.worker_left("b")  # lost: its data so far is kept, nothing more is awaited
    assert agg.flush() == 1
    agg.add("b", [_entry(100, n=4)])  # arrives after the second was written
    assert len(lines) == 2 and lines[1]["t"] == lines[0]["t"] == 100.0
    assert lines[1]["requests"] == 4 and agg.late_lines == 1


def test_corrected_histograms_merge_with_unpaced_successes() -> None:
    clock = FakeClock(0)
    paced, unpaced = IntervalRecorder(clock), IntervalRecorder(clock)
    paced.record("GET /a", 10.5, 500_000, pacing_us=200_000)
    unpaced.record("GET /a", 10.5, 1_000)
    lines: list[dict[str, Any]] = []
    agg = Aggregator(lines.append, clock=clock)
    agg.add("p", paced.take(final=True))
    agg.add("u", unpaced.take(final=True))
    agg.flush(final=True)
    (line,) = lines
    assert decode(line["hdr"]).get_total_count() == 2
    assert decode(line["hdr_corrected"]).get_total_count() == 4  # 500, 300, 100 ms + 1 ms


def test_window_and_live_stats() -> None:
    clock = FakeClock(110.3)
    agg = Aggregator(lambda line: None, clock=clock)
    for t in range(100, 110):
        agg.add("a", [_entry(t, n=10)])
    seen = agg.window(102.5, 106.0)  # whole seconds 103, 104, 105
    assert seen.window_s == 3 and seen.requests == 30
    assert seen.p95_ms == pytest.approx(1.0, rel=1e-3)
    live = agg.live(span_s=2)  # seconds 107 and 108 (109 may still be in flight)
    assert live.requests == 20 and live.rate_per_s == pytest.approx(10.0)
