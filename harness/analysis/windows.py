"""Time-window thresholds: a latency percentile over every rolling window of a run.

`p(95)[60s]<300ms` holds when every window of 60 consecutive seconds meets it. Each
window's percentile is exact to the histograms' precision: the per-second histograms of
intervals.jsonl are summed over the window (a cumulative sum over seconds, so every window
costs one subtraction) and the percentile read from the sum, exactly as for the whole run.
Windows start at every whole second from the first recorded second; a run shorter than the
window is one window. Windows without a success have no latency and are skipped.

`p(95)[60s,95%]<300ms` holds when at least 95% of those windows meet it. Its observed value
is the window percentile at that share: with the windows sorted from best to worst, the
k-th where k = ⌈0.95·n⌉, so the threshold holds exactly when k windows meet the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.rundir import iter_jsonl
from harness.rundir.hdr import HistogramSums, percentiles_from_counts
from harness.rundir.intervals import ARRIVALS_NAME


@dataclass(frozen=True)
class WorstWindow:
    """The window whose percentile is furthest on the failing side, and where it starts."""

    value_ms: float
    start_t: float
    window_s: int
    windows: int


def per_second_counts(
    intervals: Path, scope: str | None, corrected: bool
) -> tuple[int, np.ndarray] | None:
    """(first second, counts[second − first, bucket]) of the successes of `scope` (None:
    every request name); the corrected histograms, where a line has one, when `corrected`."""
    sums = HistogramSums()
    slots: dict[int, int] = {}
    for line in iter_jsonl(intervals):
        name = line.get("name")
        if name == ARRIVALS_NAME or (scope is not None and name != scope):
            continue
        blob = (line.get("hdr_corrected") or line.get("hdr")) if corrected else line.get("hdr")
        if not blob:
            continue
        second = int(float(line["t"]))
        if second not in slots:
            slots[second] = sums.new_slot()
        sums.add(slots[second], blob)
    sums.flush()
    if not slots:
        return None
    first = min(slots)
    counts = np.zeros((max(slots) - first + 1, len(sums.counts(slots[first]))), dtype=np.int64)
    for second, slot in slots.items():
        counts[second - first] = sums.counts(slot)
    return first, counts


@dataclass(frozen=True)
class Windows:
    """Every window's percentile (ms) and start second, in time order, and their width."""

    values_ms: list[float]
    starts_t: list[float]
    window_s: int

    def ranked(self, higher_is_worse: bool) -> list[int]:
        """Window indexes from the best to the worst (ties: the earlier first)."""
        sign = 1.0 if higher_is_worse else -1.0
        return sorted(range(len(self.values_ms)), key=lambda i: (sign * self.values_ms[i], i))

    def worst(self, higher_is_worse: bool = True) -> WorstWindow:
        """The window furthest on the failing side (the earliest of equals)."""
        worst_value = max(self.values_ms) if higher_is_worse else min(self.values_ms)
        index = self.values_ms.index(worst_value)
        return WorstWindow(worst_value, self.starts_t[index], self.window_s, len(self.values_ms))

    def at_share(self, share: float, higher_is_worse: bool = True) -> float:
        """The k-th best window's value, k = ⌈share·n⌉: the limit holds for at least
        `share` of the windows exactly when it holds for this value."""
        ranked = self.ranked(higher_is_worse)
        k = max(math.ceil(share * len(ranked) - 1e-9), 1)
        return self.values_ms[ranked[k - 1]]


def rolling_windows(
    intervals: Path, scope: str | None, pct: float, window_s: int, corrected: bool = False
) -> Windows | None:
    """Every `window_s`-second window's percentile `pct` (ms); None without successes."""
    found = per_second_counts(intervals, scope, corrected)
    if found is None:
        return None
    first, counts = found
    width = min(window_s, len(counts))
    cumulative = np.zeros((len(counts) + 1, counts.shape[1]), dtype=np.int64)
    np.cumsum(counts, axis=0, out=cumulative[1:])
    values: list[float] = []
    starts: list[float] = []
    for start in range(len(counts) - width + 1):
        window = cumulative[start + width] - cumulative[start]
        if not window.any():
            continue
        values.append(percentiles_from_counts(window, (pct,))[0] / 1000)
        starts.append(float(first + start))
    return Windows(values, starts, width) if values else None


def worst_window(
    intervals: Path,
    scope: str | None,
    pct: float,
    window_s: int,
    corrected: bool = False,
    higher_is_worse: bool = True,
) -> WorstWindow | None:
    """The worst `window_s`-second window's percentile `pct`, in ms; None without successes."""
    windows = rolling_windows(intervals, scope, pct, window_s, corrected)
    return None if windows is None else windows.worst(higher_is_worse)
