"""What a changed TTL would have given: replay a run's request stream against a simulated edge.

The simulated edge follows the reference edge's rules (docs/cdn.md) over cache.jsonl:

- a lookup happens when a request is sent (`t`); a miss stores its answer when it arrives
  (`end_t`), unless its status was an error; concurrent misses for one key all miss;
- a stored answer is **fresh** (HIT) while younger than the tier's `fresh_s` × `scale`;
  after that, for `stale_while_revalidate_s` more (not scaled: it is a separate knob), it
  is served STALE and refreshed (stored again when that request's answer arrives);
- an answer is unusable once a write invalidated what it depends on (`dep`) or a purge
  (`*`) happened after its lookup began, since the edge remembers the generation it saw
  then; so are answers older than fresh + stale windows: then the request misses;
- bypassed requests (dynamic tier) are not lookups; their writes only invalidate.

It models one cache process with no size limit: the reference edge's LRU holds 10,000
entries and 64 MiB per process, and each of `--service-workers` processes has its own
cache, so with several service processes the observed ratio is lower than a 1× replay.
The hit ratio is (HIT + STALE) / lookups, as the edge's own counters define it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.rundir.cache import CacheRecord, TierWindows

SCALES = (0.5, 1.0, 2.0, 10.0)
"""TTL multipliers the report shows (1× is the run's own policy, for comparison)."""


@dataclass
class TierCount:
    """Lookups and cache-served answers (HIT + STALE) of one tier."""

    lookups: int = 0
    served: int = 0
    stale: int = 0

    @property
    def hit_ratio(self) -> float | None:
        return self.served / self.lookups if self.lookups else None


@dataclass
class _Entry:
    stored_at: float
    lookup_t: float  # when the lookup that produced it began: invalidations after it count


@dataclass
class _Edge:
    windows: Mapping[str, TierWindows]
    scale: float
    entries: dict[str, _Entry] = field(default_factory=dict)
    pending: list[tuple[float, int, str, float]] = field(default_factory=list)
    invalidated_at: dict[str, float] = field(default_factory=dict)
    counts: dict[str, TierCount] = field(default_factory=dict)
    _seq: int = 0

    def settle(self, now: float) -> None:
        """Store every answer that has arrived by `now`, in order of arrival."""
        while self.pending and self.pending[0][0] <= now:
            stored_at, _, key, lookup_t = heapq.heappop(self.pending)
            self.entries[key] = _Entry(stored_at, lookup_t)

    def store_later(self, record: CacheRecord) -> None:
        self._seq += 1
        heapq.heappush(self.pending, (record.end_t, self._seq, record.key, record.t))

    def usable(self, entry: _Entry, record: CacheRecord) -> bool:
        purged = self.invalidated_at.get("*", float("-inf"))
        written = self.invalidated_at.get(record.dep, float("-inf")) if record.dep else purged
        return max(purged, written) < entry.lookup_t

    def lookup(self, record: CacheRecord) -> str:
        windows = self.windows.get(record.tier)
        count = self.counts.setdefault(record.tier, TierCount())
        count.lookups += 1
        fresh_s = windows.fresh_s * self.scale if windows else 0.0
        swr_s = windows.stale_while_revalidate_s if windows else 0.0
        entry = self.entries.get(record.key)
        if entry is not None and self.usable(entry, record):
            age_s = record.t - entry.stored_at
            if age_s < fresh_s:
                count.served += 1
                return "HIT"
            if age_s < fresh_s + swr_s:
                count.served += 1
                count.stale += 1
                self.store_later(record)
                return "STALE"
        if 0 < record.status < 400:
            self.store_later(record)
        return "MISS"


def replay(
    records: Iterable[CacheRecord], windows: Mapping[str, TierWindows], scale: float = 1.0
) -> dict[str, TierCount]:
    """Per tier, lookups and served answers of the stream under every TTL × `scale`."""
    events: list[tuple[float, int, CacheRecord]] = []
    for record in records:
        if record.cacheable:
            events.append((record.t, 1, record))
        if record.invalidates:
            events.append((record.end_t, 0, record))
    events.sort(key=lambda e: (e[0], e[1]))
    edge = _Edge(windows, scale)
    for t, kind, record in events:
        edge.settle(t)
        if kind == 0:
            for group in record.invalidates:
                edge.invalidated_at[group] = t
        else:
            edge.lookup(record)
    return edge.counts


def replay_scales(
    records: Sequence[CacheRecord],
    windows: Mapping[str, TierWindows],
    scales: Sequence[float] = SCALES,
) -> dict[float, dict[str, TierCount]]:
    """`replay` at each TTL multiplier."""
    return {scale: replay(records, windows, scale) for scale in scales}


def observed(records: Iterable[CacheRecord]) -> dict[str, TierCount]:
    """Per tier, lookups and served answers as the edge labelled them (X-Cache)."""
    counts: dict[str, TierCount] = {}
    for record in records:
        if not record.cacheable:
            continue
        count = counts.setdefault(record.tier, TierCount())
        count.lookups += 1
        count.served += record.served
        count.stale += record.x_cache == "STALE"
    return counts


def overall(counts: Mapping[str, TierCount]) -> TierCount:
    """Every tier's counts added up."""
    total = TierCount()
    for count in counts.values():
        total.lookups += count.lookups
        total.served += count.served
        total.stale += count.stale
    return total
