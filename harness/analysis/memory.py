"""Memory growth of each process of a run, from memory.jsonl.

Definitions (docs/report.md, "Where the time goes"):

- The **steady part** of a process's samples is what follows the first `warmup_share`
  (20 %) of the time it was sampled: start-up imports, seeding and cache filling are not
  growth.
- The **growth rate** is the least-squares slope of RSS against time over the steady part,
  in MB per hour (MB = 10^6 bytes); **R²** says how well a straight line explains it.
- A process **grows steadily** when, over a steady part of at least `min_span_s` (60 s),
  the slope exceeds `min_slope_mb_per_h` (50 MB/h), R² ≥ `min_r2` (0.8), and RSS rose by
  at least `min_growth_mb` (1 MB) along the fitted line: a leak, not page-sized jitter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from harness.rundir.memory import MemorySample

BYTES_PER_MB = 1_000_000
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class GrowthCriterion:
    """When a process's memory is said to grow steadily (see the module docstring)."""

    min_slope_mb_per_h: float = 50.0
    min_r2: float = 0.8
    min_span_s: float = 60.0
    min_growth_mb: float = 1.0
    warmup_share: float = 0.2


DEFAULT_CRITERION = GrowthCriterion()


@dataclass(frozen=True)
class ProcessMemory:
    """One process's RSS over the run and the fit over its steady part."""

    process: str
    role: str
    t: tuple[float, ...]
    rss_mb: tuple[float, ...]
    peak_mb: float
    last_mb: float
    steady_span_s: float
    slope_mb_per_h: float | None
    r2: float | None
    growing: bool


def fit_line(t_s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of `y` per second and R² (1.0 for a flat, perfectly fitted line)."""
    dt = t_s - t_s.mean()
    var = float((dt * dt).sum())
    if var == 0.0:
        return 0.0, 0.0
    slope = float((dt * (y - y.mean())).sum()) / var
    residual = y - (y.mean() + slope * dt)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / total if total > 0 else 1.0
    return slope, r2


def process_memory(
    samples: Iterable[MemorySample], criterion: GrowthCriterion = DEFAULT_CRITERION
) -> tuple[ProcessMemory, ...]:
    """Per process (in order of first sample): its series, growth rate and verdict."""
    by_process: dict[str, list[MemorySample]] = defaultdict(list)
    for sample in samples:
        by_process[sample.process].append(sample)
    return tuple(_one(rows, criterion) for rows in by_process.values())


def _one(rows: list[MemorySample], criterion: GrowthCriterion) -> ProcessMemory:
    rows.sort(key=lambda s: s.t)
    t = np.array([s.t for s in rows], dtype=float)
    mb = np.array([s.rss_bytes for s in rows], dtype=float) / BYTES_PER_MB
    start = t[0] + (t[-1] - t[0]) * criterion.warmup_share
    steady = t >= start
    span_s = float(t[steady][-1] - t[steady][0]) if steady.any() else 0.0
    slope_mb_per_h = r2 = None
    growing = False
    if steady.sum() >= 3 and span_s > 0:
        slope_per_s, r2 = fit_line(t[steady], mb[steady])
        slope_mb_per_h = slope_per_s * SECONDS_PER_HOUR
        growing = (
            span_s >= criterion.min_span_s
            and slope_mb_per_h > criterion.min_slope_mb_per_h
            and r2 >= criterion.min_r2
            and slope_per_s * span_s >= criterion.min_growth_mb
        )
    return ProcessMemory(
        process=rows[0].process,
        role=rows[0].role,
        t=tuple(t.tolist()),
        rss_mb=tuple(mb.tolist()),
        peak_mb=float(mb.max()),
        last_mb=float(mb[-1]),
        steady_span_s=span_s,
        slope_mb_per_h=slope_mb_per_h,
        r2=r2,
        growing=growing,
    )
