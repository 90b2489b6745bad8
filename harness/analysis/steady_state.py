"""The steady-state hypothesis, evaluated on what a run recorded.

A `Timeline` holds a run's successes and failures per 100 ms slot (`fine_ok`/`fine_fail`),
the successes' latency histograms per 1 s interval, and the times of failed probes. The
hypothesis (a scenario's `SteadyState`) holds over a window when:

- at least `min_requests` requests completed in it, and it holds no silence (no request
  completed at all) of `max_silence_s` or more (a stopped process fails nothing: it is
  silent);
- successes / completed >= `success_rate` (100 ms resolution);
- each latency limit holds on the merged histograms of every 1 s interval the window
  overlaps (1 s resolution: a latency breach marks its whole second);
- no probe failed inside it.

`window_holds` evaluates every window start on the 100 ms grid at once (vectorised); the
runner's live steady check calls `evaluate` on one range.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.analysis.timeseries import (
    CountsDecoder,
    IntervalColumns,
    fine_counts_from,
    read_intervals,
)
from harness.rundir.scenario import SteadyState

SLOT_S = 0.1
SLOTS_PER_S = 10
_EPS = 1e-6


def slot_of(t: float) -> int:
    """The global index of the 100 ms slot holding time `t` (slot k = [k/10, (k+1)/10))."""
    return math.floor(t / SLOT_S + _EPS)


def window_slots(window_s: float) -> int:
    """A window's length in slots (at least one)."""
    return max(1, round(window_s / SLOT_S))


@dataclass(frozen=True)
class Timeline:
    """A run's counts on the 100 ms grid and its latency per second.

    `ok[i]`/`fail[i]` belong to global slot `first_slot + i`. `seconds` maps a whole
    second (epoch) to its successes' histogram as sorted bucket indexes and counts;
    `values_us` gives each bucket index's value. `probe_failures_t` is sorted.
    """

    first_slot: int
    ok: np.ndarray
    fail: np.ndarray
    seconds: Mapping[int, tuple[np.ndarray, np.ndarray]]
    values_us: np.ndarray
    probe_failures_t: np.ndarray

    @property
    def start_s(self) -> float:
        """Start of the first slot with data."""
        return self.first_slot * SLOT_S

    @property
    def end_s(self) -> float:
        """End of the last slot with data."""
        return (self.first_slot + len(self.ok)) * SLOT_S

    def counts(self, first: int, last: int) -> tuple[int, int]:
        """Successes and failures in global slots [first, last)."""
        lo = min(max(first - self.first_slot, 0), len(self.ok))
        hi = min(max(last - self.first_slot, 0), len(self.ok))
        return int(self.ok[lo:hi].sum()), int(self.fail[lo:hi].sum())

    def latency_us(self, first_second: int, last_second: int, pcts: Iterable[float]) -> list[int]:
        """Success latency at `pcts` over whole seconds [first, last]; 0 when there were none."""
        parts = [self.seconds[s] for s in range(first_second, last_second + 1) if s in self.seconds]
        pcts = list(pcts)
        if not parts:
            return [0 for _ in pcts]
        index = np.concatenate([p[0] for p in parts])
        count = np.concatenate([p[1] for p in parts])
        order = np.argsort(index, kind="stable")
        index, cumulative = index[order], np.cumsum(count[order])
        total = int(cumulative[-1])
        out = []
        for pct in pcts:
            target = max(int(min(pct, 100.0) * total / 100 + 0.5), 1)
            pos = min(int(np.searchsorted(cumulative, target, side="left")), len(index) - 1)
            out.append(int(self.values_us[index[pos]]))
        return out


def load_timeline(
    run_dir: Path,
    probe_failures_t: Iterable[float] = (),
    latency_span_s: tuple[float, float] | None = None,
) -> Timeline:
    """Read a run directory's intervals into a Timeline (probe failures come from events).

    `latency_span_s` (start, end) limits the latency histograms decoded to those seconds,
    which is all recovery needs from a long run; counts are always read whole.
    """
    return timeline_from(read_intervals(Path(run_dir)), probe_failures_t, latency_span_s)


def timeline_from(
    cols: IntervalColumns,
    probe_failures_t: Iterable[float] = (),
    latency_span_s: tuple[float, float] | None = None,
) -> Timeline:
    """A Timeline from interval columns already read (see `load_timeline`)."""
    fine = fine_counts_from(cols)
    decoder = CountsDecoder()
    first_slot = slot_of(float(fine["t"].iloc[0])) if len(fine) else 0
    return Timeline(
        first_slot=first_slot,
        ok=fine["ok"].to_numpy(dtype=np.int64),
        fail=fine["fail"].to_numpy(dtype=np.int64),
        seconds=_seconds(cols, decoder, latency_span_s),
        values_us=decoder.values_us,
        probe_failures_t=np.sort(np.asarray(list(probe_failures_t), dtype=np.float64)),
    )


def _seconds(
    cols: IntervalColumns, decoder: CountsDecoder, span_s: tuple[float, float] | None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each second's merged success histogram, kept sparse (non-zero buckets only)."""
    low, high = span_s if span_s is not None else (-math.inf, math.inf)
    by_second: dict[int, list[str]] = {}
    for t, blob in zip(cols.t, cols.hdr, strict=True):
        if blob and low - 1.0 <= t < high + 1.0:
            by_second.setdefault(math.floor(t + _EPS), []).append(blob)
    scratch = decoder.zeros()
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for second, blobs in by_second.items():
        lo, hi = decoder.counts_len, -1
        for blob in blobs:
            try:
                span = decoder.add_into(blob, scratch)
            except (ValueError, TypeError, zlib.error):
                continue  # an unreadable histogram: the summary counts those
            if span is not None:
                lo, hi = min(lo, span[0]), max(hi, span[1])
        if hi < 0:
            continue
        index = np.flatnonzero(scratch[lo : hi + 1]) + lo
        out[second] = (index, scratch[index].copy())
        scratch[lo : hi + 1] = 0
    return out


@dataclass(frozen=True)
class HypothesisResult:
    """Whether the hypothesis held over one range, with the figures and the reasons if not."""

    ok: bool
    requests: int
    failures: int
    success_rate: float | None
    latency_ms: Mapping[str, float]
    reasons: tuple[str, ...]

    def detail(self) -> str:
        """One line for a `steady_state` event."""
        if self.ok:
            rate = "n/a" if self.success_rate is None else f"{self.success_rate:.2%}"
            return f"held: {self.requests} requests, success {rate}"
        return "; ".join(self.reasons)


def evaluate(timeline: Timeline, steady: SteadyState, t0: float, t1: float) -> HypothesisResult:
    """Evaluate the hypothesis over [t0, t1) (the runner's steady check; events' detail)."""
    first, last = slot_of(t0), max(slot_of(t1 - _EPS) + 1, slot_of(t0) + 1)
    ok, fail = timeline.counts(first, last)
    total = ok + fail
    reasons = []
    rate = ok / total if total else None
    if total < steady.min_requests:
        reasons.append(f"{total} requests < min_requests {steady.min_requests}")
    if rate is not None and steady.success_rate > 0 and rate < steady.success_rate - 1e-12:
        reasons.append(f"success rate {rate:.2%} < {steady.success_rate:.2%}")
    pcts = [limit.pct for limit in steady.latency_ms]
    values = timeline.latency_us(first // SLOTS_PER_S, (last - 1) // SLOTS_PER_S, pcts)
    latency = {
        limit.key: value / 1000.0 for limit, value in zip(steady.latency_ms, values, strict=True)
    }
    for limit, value_us in zip(steady.latency_ms, values, strict=True):
        if value_us > limit.max_ms * 1000.0:
            reasons.append(f"p{limit.pct:g} {value_us / 1000:.1f} ms > {limit.max_ms:g} ms")
    probes = timeline.probe_failures_t
    failed = int(np.count_nonzero((probes >= first * SLOT_S) & (probes < last * SLOT_S)))
    if failed:
        reasons.append(f"{failed} probe(s) failed")
    return HypothesisResult(not reasons, total, fail, rate, latency, tuple(reasons))


def window_holds(
    timeline: Timeline,
    steady: SteadyState,
    window_s: float,
    first_start: int,
    last_start: int,
    max_silence_s: float | None = None,
) -> np.ndarray:
    """For each window start slot in [first_start, last_start]: does the hypothesis hold?

    Window i covers slots [first_start + i, first_start + i + n) with n = `window_slots`.
    `max_silence_s` (already resolved, None = no silence rule) fails windows that hold a
    run of that many seconds of empty slots.
    """
    if last_start < first_start:
        return np.zeros(0, dtype=bool)
    n = window_slots(window_s)
    starts = np.arange(first_start, last_start + 1, dtype=np.int64)
    ok = _window_sums(timeline.ok, starts - timeline.first_slot, n)
    fail = _window_sums(timeline.fail, starts - timeline.first_slot, n)
    total = ok + fail
    holds = total >= steady.min_requests
    if max_silence_s is not None:
        holds &= ~_has_silence(timeline, starts - timeline.first_slot, n, max_silence_s)
    if steady.success_rate > 0:
        holds &= ok >= steady.success_rate * total - 1e-9
    if steady.latency_ms:
        holds &= _latency_holds(timeline, steady, starts, n)
    if len(timeline.probe_failures_t):
        probes = timeline.probe_failures_t
        before_start = np.searchsorted(probes, starts * SLOT_S - _EPS, side="left")
        before_end = np.searchsorted(probes, (starts + n) * SLOT_S - _EPS, side="left")
        holds &= before_end == before_start
    return np.asarray(holds, dtype=bool)


def _has_silence(
    timeline: Timeline, starts: np.ndarray, n: int, max_silence_s: float
) -> np.ndarray:
    """Does each window [s, s + n) (data indexes) hold `max_silence_s` of empty slots in a row?

    Slots outside the recorded data count as empty: nothing completed there either.
    """
    run = max(1, round(max_silence_s / SLOT_S))
    if run > n or not len(starts):
        return np.zeros(len(starts), dtype=bool)
    base = min(0, int(starts.min()))
    top = max(len(timeline.ok), int(starts.max()) + n)
    empty = np.ones(top - base, dtype=np.int64)
    empty[-base : -base + len(timeline.ok)] = (timeline.ok + timeline.fail) == 0
    cumulative = np.concatenate(([0], np.cumsum(empty)))
    run_ends = np.zeros(top - base, dtype=np.int64)  # 1 where `run` empty slots end here
    run_ends[run - 1 :] = (cumulative[run:] - cumulative[:-run]) == run
    ends_before = np.concatenate(([0], np.cumsum(run_ends)))
    first_end = starts - base + run - 1
    return np.asarray(ends_before[starts - base + n] - ends_before[first_end] > 0)


def _window_sums(values: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Sum of values[s : s + n] for each s (indexes outside the array count as zero)."""
    cumulative = np.concatenate(([0], np.cumsum(values)))
    size = len(values)
    lo = np.clip(starts, 0, size)
    hi = np.clip(starts + n, 0, size)
    return np.asarray(cumulative[hi] - cumulative[lo], dtype=np.int64)


def _latency_holds(
    timeline: Timeline, steady: SteadyState, starts: np.ndarray, n: int
) -> np.ndarray:
    """Latency limits per window, judged on the seconds each window overlaps (cached)."""
    pcts = [limit.pct for limit in steady.latency_ms]
    limits_us = np.asarray([limit.max_ms * 1000.0 for limit in steady.latency_ms])
    cache: dict[tuple[int, int], bool] = {}
    out = np.ones(len(starts), dtype=bool)
    for i, start in enumerate(starts.tolist()):
        span = (start // SLOTS_PER_S, (start + n - 1) // SLOTS_PER_S)
        if span not in cache:
            values = np.asarray(timeline.latency_us(span[0], span[1], pcts), dtype=np.float64)
            cache[span] = bool(np.all(values <= limits_us))
        out[i] = cache[span]
    return out


def latency_breaches(timeline: Timeline, steady: SteadyState, first_second: int) -> list[int]:
    """Whole seconds from `first_second` on whose own latency breaks a limit, in order."""
    if not steady.latency_ms:
        return []
    pcts = [limit.pct for limit in steady.latency_ms]
    out = []
    for second in sorted(s for s in timeline.seconds if s >= first_second):
        values = timeline.latency_us(second, second, pcts)
        if any(v > lim.max_ms * 1000.0 for v, lim in zip(values, steady.latency_ms, strict=True)):
            out.append(second)
    return out
