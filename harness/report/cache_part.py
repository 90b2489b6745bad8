"""The cache part of "Where the time goes": per tier and per route, and a TTL replay.

Reads cache.jsonl and cache-policy.json through `harness.rundir`; the figures come from
`harness.analysis.cache_stats` (hit ratio, stale serves, miss cost) and
`harness.analysis.cache_replay` (the hit ratio the run's request stream would have had at
0.5×, 2× and 10× each tier's TTL), whose docstrings define them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.cache_replay import SCALES, TierCount, observed, overall, replay_scales
from harness.analysis.cache_stats import CacheGroup, by_route, by_tier, tier_rank
from harness.report.formatting import fmt_count, fmt_share
from harness.report.sections import Row, Table
from harness.rundir import RunDir, read_cache, read_cache_policy


@dataclass(frozen=True)
class CacheView:
    """The tables of the cache part, and notes on what the record covers."""

    tiers: Table
    routes: Table
    replay: Table | None
    notes: tuple[str, ...]


_GROUP_HEADERS = ("Hit", "Stale", "Miss", "Bypass", "Hit ratio", "Cached P50", "Miss P50",
                  "Miss cost")  # fmt: skip


def build_cache(run_dir: Path) -> CacheView | None:
    """The cache part for `run_dir`, or None when it has no cache.jsonl records."""
    rd = RunDir(run_dir)
    if not rd.cache.is_file():
        return None
    records = list(read_cache(rd.cache))
    if not records:
        return None
    policy = read_cache_policy(rd.cache_policy)
    notes = []
    replay = None
    if policy is None:
        notes.append("No cache-policy.json (the run did not end cleanly): no TTL replay.")
    else:
        records = [r for r in records if policy.kept(r)]
        if policy.key_sample_bits:
            notes.append(
                f"To keep cache.jsonl under {fmt_count(policy.max_records)} lines, it holds "
                f"every request of one cache key in {2**policy.key_sample_bits:,} (and every "
                f"write): the counts below are of that sample; ratios and the replay are "
                f"exact for it."
            )
        if policy.dropped:
            notes.append(
                f"{fmt_count(policy.dropped)} requests went over the record's bound "
                f"({fmt_count(policy.max_records)} lines) and are not in these figures."
            )
        replay = _replay_table(observed(records), replay_scales(records, policy.tiers))
    return CacheView(
        tiers=_group_table(("Tier", "Requests"), by_tier(records)),
        routes=_group_table(("Request", "Tier", "Requests"), by_route(records)),
        replay=replay,
        notes=tuple(notes),
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f} ms"


def _cost(value: float | None) -> str:
    return "—" if value is None else f"{value:+,.2f} ms"


def _group_table(lead: tuple[str, ...], groups: Sequence[CacheGroup]) -> Table:
    rows = []
    for g in groups:
        first = (g.label, fmt_count(g.requests)) if len(lead) == 2 else (
            g.label, g.tier, fmt_count(g.requests))  # fmt: skip
        cells = (*first, fmt_count(g.hits), fmt_count(g.stale), fmt_count(g.misses),
                 fmt_count(g.bypass), fmt_share(g.hit_ratio) if g.lookups else "—",
                 _ms(g.served_p50_ms), _ms(g.miss_p50_ms), _cost(g.miss_cost_ms))  # fmt: skip
        rows.append(Row(cells))
    numeric = frozenset(range(len(lead) - 1, len(lead) + len(_GROUP_HEADERS)))
    return Table((*lead, *_GROUP_HEADERS), tuple(rows), numeric)


def _replay_table(
    seen: Mapping[str, TierCount], replays: Mapping[float, Mapping[str, TierCount]]
) -> Table:
    tiers = sorted((t for t in seen if seen[t].lookups), key=tier_rank)
    rows = []
    for tier in [*tiers, None]:
        observed_count = seen[tier] if tier is not None else overall(seen)
        cells = [tier or "All lookups", fmt_count(observed_count.lookups),
                 fmt_share(observed_count.hit_ratio)]  # fmt: skip
        for scale in SCALES:
            counts = replays[scale]
            count = counts.get(tier, TierCount()) if tier is not None else overall(counts)
            cells.append(fmt_share(count.hit_ratio))
        rows.append(Row(tuple(cells), strong=tier is None))
    headers = ("Tier", "Lookups", "Observed", *(f"TTL × {s:g}" for s in SCALES))
    return Table(headers, tuple(rows), frozenset(range(1, 3 + len(SCALES))))
