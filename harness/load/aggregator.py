"""The master's exact merge of the workers' per-second recordings (no Locust import here).

Workers send, every second, the seconds they have finished (`IntervalRecorder.take()`) and a
watermark `through_t`: every second before it has been sent. The aggregator adds them per
(second, request name), histograms by exact addition, and writes one line per second and
name once every live worker's watermark has passed that second, or `grace_s` after the
second ended, whichever comes first. Data for a second already written (a slow worker, or a
worker's final flush) becomes another line with the same `t` and `name`; readers add them.

It also keeps the last few minutes of success histograms, encoded, for live numbers: the
progress line and the Extreme profile's step judgement (`window()`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.load.shapes import StepObservation
from harness.rundir.histograms import encode, merge, percentiles_us
from harness.rundir.intervals import FINE_SLOTS

Entry = dict[str, Any]
LineSink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class LiveStats:
    """The last few complete seconds, merged over workers and names."""

    rate_per_s: float
    requests: int
    failures: int
    p95_ms: float


@dataclass
class _Recent:
    requests: int = 0
    failures: int = 0
    blobs: list[str] = field(default_factory=list)


def merge_entries(t: float, name: str, parts: list[tuple[str, Entry]]) -> dict[str, Any]:
    """One `intervals.jsonl` line from several workers' entries for the same second and name."""
    entries = [entry for _worker, entry in parts]
    corrected = any(e.get("hdr_corrected") for e in entries)
    fine_ok = [0] * FINE_SLOTS
    fine_fail = [0] * FINE_SLOTS
    errors: dict[str, int] = {}
    for entry in entries:
        for i, (ok, bad) in enumerate(zip(entry["fine_ok"], entry["fine_fail"], strict=True)):
            fine_ok[i] += ok
            fine_fail[i] += bad
        for kind, count in entry["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    return {
        "t": float(t),
        "dt_s": 1.0,
        "name": name,
        "requests": sum(e["requests"] for e in entries),
        "failures": sum(e["failures"] for e in entries),
        "bytes": sum(e["bytes"] for e in entries),
        "hdr": _merged([e["hdr"] for e in entries]),
        # workers without a corrected histogram were unpaced: their successes count as is
        "hdr_corrected": _merged([e.get("hdr_corrected") or e["hdr"] for e in entries])
        if corrected
        else None,
        "hdr_fail": _merged([e["hdr_fail"] for e in entries]),
        "fine_ok": fine_ok,
        "fine_fail": fine_fail,
        "errors": errors,
        "clipped": sum(e["clipped"] for e in entries),
        "iterations": sum(e.get("iterations", 0) for e in entries),
        "dropped_iterations": sum(e.get("dropped_iterations", 0) for e in entries),
        "grown_users": sum(e.get("grown_users", 0) for e in entries),
        "workers": len({worker for worker, _entry in parts}),
    }


def _merged(blobs: list[str | None]) -> str | None:
    present = [b for b in blobs if b]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return encode(merge(present))


class Aggregator:
    """Merges worker entries per (second, name) and writes each line once it is complete."""

    def __init__(
        self,
        write_line: LineSink,
        clock: Callable[[], float] = time.time,
        grace_s: float = 2.5,
        recent_s: float = 120.0,
    ) -> None:
        self._write_line = write_line
        self._clock = clock
        self.grace_s = grace_s
        self.recent_s = recent_s
        self._pending: dict[int, dict[str, list[tuple[str, Entry]]]] = {}
        self._flushed_below: int | None = None
        self._watermarks: dict[str, float] = {}
        self._recent: dict[int, _Recent] = {}
        self.lines_written = 0
        self.late_lines = 0
        self.requests = 0
        self.failures = 0

    @property
    def live_workers(self) -> tuple[str, ...]:
        """Workers whose data is still waited for."""
        return tuple(self._watermarks)

    def watermarks(self) -> dict[str, float]:
        """For each live worker, the time before which it has sent every second."""
        return dict(self._watermarks)

    def worker_joined(self, worker: str, t: float) -> None:
        """Wait for this worker's data from second `t` on."""
        self._watermarks.setdefault(worker, float(math.floor(t)))

    def worker_left(self, worker: str) -> None:
        """Stop waiting for this worker (lost or quit); what it sent is kept."""
        self._watermarks.pop(worker, None)

    def add(self, worker: str, entries: Iterable[Entry], through_t: float | None = None) -> None:
        """Take one worker message's entries; `through_t`: it has sent every second before."""
        for entry in entries:
            t = int(entry["t"])
            self.requests += entry["requests"]
            self.failures += entry["failures"]
            recent = self._recent.get(t)
            if recent is None:
                recent = self._recent[t] = _Recent()
            recent.requests += entry["requests"]
            recent.failures += entry["failures"]
            if entry["hdr"]:
                recent.blobs.append(entry["hdr"])
            if self._flushed_below is not None and t < self._flushed_below:
                self._emit(merge_entries(t, entry["name"], [(worker, entry)]), late=True)
            else:
                names = self._pending.setdefault(t, {})
                names.setdefault(entry["name"], []).append((worker, entry))
        if through_t is not None and worker in self._watermarks:
            self._watermarks[worker] = max(self._watermarks[worker], through_t)

    def flush(self, final: bool = False) -> int:
        """Write every complete (or overdue) second, in order; all of them when `final`."""
        now = self._clock()
        written = 0
        for t in sorted(self._pending):
            complete = all(mark >= t + 1 for mark in self._watermarks.values())
            if not (final or complete or now >= t + 1 + self.grace_s):
                break
            for name, parts in sorted(self._pending.pop(t).items()):
                self._emit(merge_entries(t, name, parts))
                written += 1
            self._flushed_below = max(self._flushed_below or t + 1, t + 1)
        for t in [t for t in self._recent if t < now - self.recent_s]:
            del self._recent[t]
        return written

    def _emit(self, line: dict[str, Any], late: bool = False) -> None:
        self._write_line(line)
        self.lines_written += 1
        self.late_lines += int(late)

    def window(self, t_from: float, t_to: float) -> StepObservation:
        """Merged live data of the whole seconds inside [t_from, t_to) (the Extreme judge)."""
        seconds = range(math.ceil(t_from), math.floor(t_to))
        return self._observe(seconds)

    def live(self, span_s: int = 2) -> LiveStats:
        """The last `span_s` seconds that should have arrived (one second of shipping lag)."""
        last = int(self._clock() // 1) - 1
        seen = self._observe(range(last - span_s, last))
        rate = seen.requests / seen.window_s if seen.window_s else 0.0
        return LiveStats(rate, seen.requests, seen.failures, seen.p95_ms)

    def _observe(self, seconds: range) -> StepObservation:
        requests = failures = 0
        blobs: list[str] = []
        for t in seconds:
            recent = self._recent.get(t)
            if recent is not None:
                requests += recent.requests
                failures += recent.failures
                blobs.extend(recent.blobs)
        pcts = percentiles_us(merge(blobs), (95.0, 99.0)) if blobs else {95.0: 0, 99.0: 0}
        return StepObservation(
            requests=requests,
            failures=failures,
            window_s=float(len(seconds)),
            p95_ms=pcts[95.0] / 1000,
            p99_ms=pcts[99.0] / 1000,
        )
