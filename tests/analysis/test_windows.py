"""Time-window thresholds (`p(95)[60s]<300ms`) against a brute-force computation.

The brute force rebuilds every window's histogram from the synthetic run's raw samples
with hdrh itself (one `record_value` per sample) and reads its percentile; the windowed
threshold sums the recorded per-second histograms instead. They must agree exactly.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from harness.analysis.summary import measure
from harness.analysis.thresholds import evaluate, parse_threshold
from harness.analysis.windows import rolling_windows, worst_window
from harness.errors import ConfigError
from harness.rundir import RunDir
from harness.testing.synthetic import make_run_dir


def brute_force_windows_ms(
    t_s: np.ndarray, values_us: np.ndarray, pct: float, window_s: int
) -> list[float]:
    """Every window's percentile from a histogram fed each raw sample of the window."""
    seconds = np.floor(t_s).astype(int)
    first, last = seconds.min(), seconds.max()
    width = min(window_s, last - first + 1)
    values = []
    for start in range(first, last - width + 2):
        inside = values_us[(seconds >= start) & (seconds < start + width)]
        if len(inside) == 0:
            continue
        histogram = HdrHistogram(1, 120_000_000, 3)
        for value in inside:
            histogram.record_value(int(value))
        values.append(histogram.get_value_at_percentile(pct) / 1000)
    return values


def brute_force_worst_ms(
    t_s: np.ndarray, values_us: np.ndarray, pct: float, window_s: int
) -> float:
    return max(brute_force_windows_ms(t_s, values_us, pct, window_s))


@pytest.mark.parametrize(("pct", "window_s"), [(95.0, 10), (99.0, 30), (50.0, 1)])
def test_the_worst_window_agrees_with_a_brute_force_computation(
    tmp_path: Path, pct: float, window_s: int
) -> None:
    run = make_run_dir(
        tmp_path / "run", duration_s=40, rate_per_s=40, slow_windows=[(15.0, 22.0, 8.0)], seed=3
    )
    ok = run.ok
    name = run.names[0]
    mask = ok & (run.name_index == 0)
    expected = brute_force_worst_ms(run.t_s[mask], run.latency_us[mask], pct, window_s)
    worst = worst_window(RunDir(run.path).intervals, name, pct, window_s)
    assert worst is not None and worst.value_ms == expected
    everything = brute_force_worst_ms(run.t_s[ok], run.latency_us[ok], pct, window_s)
    total = worst_window(RunDir(run.path).intervals, None, pct, window_s)
    assert total is not None and total.value_ms == everything


def test_a_window_threshold_fails_on_its_worst_window_and_says_which(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "run", duration_s=60, slow_windows=[(30.0, 36.0, 20.0)])
    measured = measure(run.path)
    whole = parse_threshold("p(95)<1s")
    windowed = parse_threshold("p(95)[10s]<1s")
    assert windowed.metric == "p(95)[10s]" and windowed.window_s == 10
    overall, worst = evaluate([whole, windowed], measured)
    assert worst.observed is not None and overall.observed is not None
    assert worst.observed > overall.observed  # the slow stretch dominates one window only
    assert "worst of" in worst.message and "the one from +" in worst.message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("error_rate[60s]<1%", "percentiles"),
        ("p(95)[0s]<1s", "whole number of seconds"),
        ("p(95)[1.5s]<1s", "whole number of seconds"),
        ("p(95)[60x]<1s", "window such as"),
        ("p(95)[60s]<+10%", "absolute limit"),
        ("p(95)[60s,0%]<1s", "a share of windows"),
        ("p(95)[60s,101%]<1s", "a share of windows"),
        ("p(95)[60s,95]<1s", "window such as"),
        ("p(95)[60s,]<1s", "window such as"),
    ],
)
def test_bad_windows_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_threshold(text)


def test_minutes_and_a_scope_parse() -> None:
    t = parse_threshold("GET /x: cp(99)[2m]<=300ms")
    assert (t.scope, t.name, t.arg, t.window_s, t.limit) == ("GET /x", "cp", 99.0, 120, 300.0)


@pytest.mark.parametrize("share", [0.5, 0.9, 0.95, 1.0])
def test_the_window_at_a_share_agrees_with_a_brute_force_ranking(
    tmp_path: Path, share: float
) -> None:
    run = make_run_dir(
        tmp_path / "run", duration_s=40, rate_per_s=40, slow_windows=[(15.0, 22.0, 8.0)], seed=5
    )
    brute = sorted(brute_force_windows_ms(run.t_s[run.ok], run.latency_us[run.ok], 95.0, 5))
    k = math.ceil(share * len(brute))
    windows = rolling_windows(RunDir(run.path).intervals, None, 95.0, 5)
    assert windows is not None and sorted(windows.values_ms) == brute
    assert windows.at_share(share) == brute[k - 1]
    assert windows.at_share(share, higher_is_worse=False) == sorted(brute, reverse=True)[k - 1]


def test_a_share_of_windows_passes_where_every_window_fails(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "run", duration_s=60, slow_windows=[(30.0, 33.0, 20.0)])
    measured = measure(run.path)
    windows = rolling_windows(RunDir(run.path).intervals, None, 95.0, 5)
    assert windows is not None
    slow = sum(v >= 300 for v in windows.values_ms)
    assert 0 < slow < 0.2 * len(windows.values_ms)  # the stall spoils a few windows
    every, most, nearly_all = evaluate(
        [parse_threshold(f"p(95)[5s{share}]<300ms") for share in ("", ",80%", ",99.9%")],
        measured,
    )
    assert not every.ok and most.ok and not nearly_all.ok
    meeting = len(windows.values_ms) - slow
    assert f"{meeting} of {len(windows.values_ms)} windows of 5 s meet the limit" in most.message
    assert most.threshold.metric == "p(95)[5s,80%]"


def test_shares_parse_and_100_percent_is_every_window() -> None:
    t = parse_threshold("GET /x: p(99)[2m, 99.5 %]<=300ms")
    assert (t.window_s, t.window_share, t.metric) == (120, 0.995, "p(99)[120s,99.5%]")
    assert parse_threshold("p(95)[60s,100%]<1s").window_share is None
