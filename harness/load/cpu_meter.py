"""How busy this process's event loop is: CPU time and run-queue wait, per sample.

A Locust worker is one gevent loop on one thread: it saturates when that thread is never
idle. Linux's `/proc/self/schedstat` gives the thread's time on a CPU and its time ready
but waiting for one; over a second, their sum says whether the loop had idle moments
(docs/load.md, "Generator health"). Where schedstat is missing, the process's CPU time
(psutil) stands in and the wait is 0. No Locust import here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import psutil

SCHEDSTAT = Path("/proc/self/schedstat")
MIN_SPAN_S = 0.2
"""A shorter span is not a sample: schedstat's counters advance at scheduler events, so one
step of a few ms over a span of microseconds (a worker's first sample came right after its
meter was created) read as busy 950% and raised a false generator_saturated."""


def _schedstat() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds waiting for one) of this process's main thread."""
    try:
        run_ns, wait_ns, _slices = SCHEDSTAT.read_text().split()[:3]
    except (OSError, ValueError):
        return None
    return int(run_ns) / 1e9, int(wait_ns) / 1e9


def _times() -> tuple[float, float]:
    """schedstat's figures, or the process's CPU time and no wait where it is missing."""
    found = _schedstat()
    if found is not None:
        return found
    times = psutil.Process().cpu_times()
    return times.user + times.system, 0.0


class CpuMeter:
    """`sample()`: (cpu_pct, wait_pct) since the previous sample, in percent of one core
    ((0, 0) within `MIN_SPAN_S` of it, and that span is left to the next sample)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = (clock(), *_times())

    def sample(self) -> tuple[float, float]:
        """CPU and wait shares of the time since the last sample (0, 0 when none passed)."""
        now, (run_s, wait_s) = self._clock(), _times()
        then, run_before, wait_before = self._last
        wall_s = now - then
        if wall_s < MIN_SPAN_S:  # the next sample covers this span too
            return 0.0, 0.0
        self._last = (now, run_s, wait_s)
        return (
            max(run_s - run_before, 0.0) / wall_s * 100,
            max(wait_s - wait_before, 0.0) / wall_s * 100,
        )


_OWN: CpuMeter | None = None


def own_cpu() -> dict[str, float | int]:
    """This process's `{"pid", "cpu_pct", "wait_pct"}` since the last call: what a worker
    sends with its intervals (the first call covers the time since the meter's creation)."""
    global _OWN
    if _OWN is None:
        _OWN = CpuMeter()
    cpu_pct, wait_pct = _OWN.sample()
    return {"pid": os.getpid(), "cpu_pct": round(cpu_pct, 2), "wait_pct": round(wait_pct, 2)}
