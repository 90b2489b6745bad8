"""Memory growth: the least-squares fit and the "grows steadily" criterion, on data."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.memory import GrowthCriterion, fit_line, process_memory
from harness.rundir import MemorySample

MB = 1_000_000


def _samples(name: str, rss_bytes: list[float], t0: float = 1000.0) -> list[MemorySample]:
    return [MemorySample(t0 + i, name, "service", 1, int(v)) for i, v in enumerate(rss_bytes)]


def test_fit_line_recovers_slope_and_r2() -> None:
    t = np.arange(100, dtype=float)
    slope, r2 = fit_line(t, 3.0 * t + 5.0)
    assert slope == pytest.approx(3.0) and r2 == pytest.approx(1.0)
    noise = np.random.default_rng(1).normal(0, 1, 100)
    slope, r2 = fit_line(t, noise)
    assert abs(slope) < 0.05 and r2 < 0.1


def test_a_steady_leak_is_flagged_and_jitter_is_not() -> None:
    rng = np.random.default_rng(7)
    # 120 s at 60 MB, then +0.1 MB/s (360 MB/h) with page-sized noise
    leak = [60 * MB + max(0, i - 20) * 100_000 + rng.normal(0, 20_000) for i in range(120)]
    flat = [60 * MB + rng.choice([0, 4096, 8192]) for i in range(120)]
    # a warm-up jump, then flat: the steady part excludes it
    warm = [40 * MB if i < 15 else 80 * MB for i in range(120)]
    by_name = {
        p.process: p
        for p in process_memory(
            _samples("leak", leak) + _samples("flat", flat) + _samples("warm", warm)
        )
    }
    assert by_name["leak"].growing
    assert by_name["leak"].slope_mb_per_h == pytest.approx(360, rel=0.05)
    assert not by_name["flat"].growing and not by_name["warm"].growing
    assert by_name["warm"].slope_mb_per_h == pytest.approx(0.0, abs=1e-9)
    assert by_name["warm"].peak_mb == pytest.approx(80.0)


def test_too_short_a_run_never_warns() -> None:
    leak = [60 * MB + i * 1_000_000 for i in range(30)]
    (p,) = process_memory(_samples("leak", leak))
    assert not p.growing and p.slope_mb_per_h == pytest.approx(3600.0)
    (p,) = process_memory(_samples("leak", leak), GrowthCriterion(min_span_s=10))
    assert p.growing
