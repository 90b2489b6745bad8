"""Timing a statement on a scratch copy: medians of many executions, bounded in time."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

MIN_REPEATS = 7
MIN_TOTAL_S = 0.2
"""A fast statement is repeated until this much time has passed (up to `MAX_REPEATS`), so a
median of microsecond-long runs is not one scheduler hiccup away from wrong."""
MAX_REPEATS = 500
BUDGET_S = 3.0
"""At most this long per measurement: a slow statement gets fewer (at least 3) repeats."""
MIN_SPEEDUP = 1.1
"""A recommendation is shown only when the statement ran more than this many times faster
with the index (below it, timing noise on a busy machine could make an index look useful)."""


def median_ms(run: Callable[[], object], budget_s: float = BUDGET_S) -> float:
    """The median time of `run()` in ms after one warm-up: at least `MIN_REPEATS` runs and
    `MIN_TOTAL_S` of them (at most `MAX_REPEATS`), fewer (at least 3) past `budget_s`."""
    run()  # warm-up: page cache, statement cache
    times: list[float] = []
    started_all = time.monotonic()
    while len(times) < MAX_REPEATS:
        spent = time.monotonic() - started_all
        if len(times) >= 3 and spent > budget_s:
            break
        if len(times) >= MIN_REPEATS and spent > MIN_TOTAL_S:
            break
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)
