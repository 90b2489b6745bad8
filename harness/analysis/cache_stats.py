"""The edge cache per tier and per route, from cache.jsonl: hit ratio, stale serves, miss cost.

- **hit ratio** = (HIT + STALE) / (HIT + STALE + MISS), as the edge's own counters define
  it; bypassed requests (the dynamic tier, writes) are not lookups;
- **miss cost** = median latency of MISS answers − median latency of cache-served (HIT or
  STALE) answers of the same group, in milliseconds, from the recorded response times;
  None when either side has no sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from harness.rundir.cache import CacheRecord

TIER_ORDER = ("static", "html", "api", "dynamic", "unknown")


@dataclass(frozen=True)
class CacheGroup:
    """One tier's or one route's figures."""

    label: str
    tier: str
    requests: int
    hits: int
    stale: int
    misses: int
    bypass: int
    served_p50_ms: float | None
    miss_p50_ms: float | None

    @property
    def lookups(self) -> int:
        return self.hits + self.stale + self.misses

    @property
    def hit_ratio(self) -> float | None:
        return (self.hits + self.stale) / self.lookups if self.lookups else None

    @property
    def miss_cost_ms(self) -> float | None:
        if self.served_p50_ms is None or self.miss_p50_ms is None:
            return None
        return self.miss_p50_ms - self.served_p50_ms


def _median_ms(latencies_us: list[int]) -> float | None:
    return float(np.median(latencies_us)) / 1000.0 if latencies_us else None


def _group(label: str, tier: str, records: list[CacheRecord]) -> CacheGroup:
    labels = [r.x_cache for r in records]
    return CacheGroup(
        label=label,
        tier=tier,
        requests=len(records),
        hits=labels.count("HIT"),
        stale=labels.count("STALE"),
        misses=labels.count("MISS"),
        bypass=labels.count("BYPASS"),
        served_p50_ms=_median_ms([r.latency_us for r in records if r.served]),
        miss_p50_ms=_median_ms([r.latency_us for r in records if r.x_cache == "MISS"]),
    )


def _grouped(
    records: Iterable[CacheRecord], key: Callable[[CacheRecord], tuple[str, str]]
) -> dict[tuple[str, str], list[CacheRecord]]:
    groups: dict[tuple[str, str], list[CacheRecord]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return groups


def tier_rank(tier: str) -> int:
    """Where `tier` sorts: static, html, api, dynamic, unknown, then any other."""
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER)


def by_tier(records: Iterable[CacheRecord]) -> tuple[CacheGroup, ...]:
    """One group per tier, static first."""
    groups = _grouped(records, lambda r: (r.tier, r.tier))
    ordered = sorted(groups.items(), key=lambda kv: tier_rank(kv[0][1]))
    return tuple(_group(label, tier, rows) for (label, tier), rows in ordered)


def by_route(records: Iterable[CacheRecord]) -> tuple[CacheGroup, ...]:
    """One group per request name, by tier, then busiest first."""
    groups = _grouped(records, lambda r: (r.name, r.tier))
    ordered = sorted(groups.items(), key=lambda kv: (tier_rank(kv[0][1]), -len(kv[1])))
    return tuple(_group(label, tier, rows) for (label, tier), rows in ordered)
