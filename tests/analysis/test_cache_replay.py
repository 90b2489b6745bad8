"""The TTL replay against a brute-force replay of the same rules, and cache figures on data."""

from __future__ import annotations

import random

import pytest

from harness.analysis.cache_replay import SCALES, TierCount, observed, overall, replay
from harness.analysis.cache_stats import by_route, by_tier
from harness.rundir import CacheRecord, TierWindows

WINDOWS = {
    "static": TierWindows(1_000_000.0),
    "html": TierWindows(10.0, 30.0),
    "api": TierWindows(5.0, 0.0, 60.0),
    "dynamic": TierWindows(0.0),
}


def _read(t: float, key: str, tier: str, label: str = "MISS", status: int = 200,
          latency_s: float = 0.01) -> CacheRecord:  # fmt: skip
    dep = None
    if tier == "api":
        dep = f"item:{key.rsplit('/', 1)[1]}" if key[len("/api/items/") :].isdigit() else "items"
    return CacheRecord(t, t + latency_s, f"GET {key}", key, tier, label, status,
                       round(latency_s * 1e6), dep)  # fmt: skip


def _write(t: float, groups: tuple[str, ...]) -> CacheRecord:
    return CacheRecord(t, t + 0.01, "PATCH /api/items/{id}", "/api/items/1", "dynamic",
                       "BYPASS", 200, 10_000, None, groups)  # fmt: skip


def synthetic_stream(seed: int, n: int = 1500, span_s: float = 120.0) -> list[CacheRecord]:
    rng = random.Random(seed)
    keys = ([("static", f"/static/{i}.css") for i in range(5)]
            + [("html", f"/pages/{i}") for i in range(8)]
            + [("api", f"/api/items/{i}") for i in range(30)]
            + [("api", f"/api/items?filter=f{i}") for i in range(5)])  # fmt: skip
    records = []
    for _ in range(n):
        t = rng.uniform(0, span_s)
        roll = rng.random()
        if roll < 0.05:
            item = rng.randrange(30)
            records.append(_write(t, ("items", f"item:{item}")))
        elif roll < 0.052:
            records.append(_write(t, ("*",)))
        else:
            tier, key = rng.choice(keys)
            status = 404 if tier == "api" and rng.random() < 0.05 else 200
            label = rng.choice(("HIT", "MISS", "STALE"))
            records.append(_read(t, key, tier, label, status, rng.uniform(0.001, 0.08)))
    return records


def brute_force(
    records: list[CacheRecord], windows: dict[str, TierWindows], scale: float
) -> dict[str, TierCount]:
    """The same rules, the slow way: every lookup scans every store and invalidation."""
    invalidations = [(r.end_t, g) for r in records for g in r.invalidates]
    stores: list[tuple[float, float, str]] = []  # (arrived, lookup began, key)
    counts: dict[str, TierCount] = {}
    for r in sorted((r for r in records if r.cacheable), key=lambda r: r.t):
        count = counts.setdefault(r.tier, TierCount())
        count.lookups += 1
        w = windows[r.tier]
        arrived = [s for s in stores if s[2] == r.key and s[0] <= r.t]
        outcome = "MISS"
        if arrived:
            end_t, began, _ = max(arrived, key=lambda s: s[0])
            groups = {"*", r.dep} if r.dep else {"*"}
            spoiled = any(began <= t <= r.t and g in groups for t, g in invalidations)
            age = r.t - end_t
            if not spoiled and age < w.fresh_s * scale:
                outcome = "HIT"
            elif not spoiled and age < w.fresh_s * scale + w.stale_while_revalidate_s:
                outcome = "STALE"
        if outcome != "MISS":
            count.served += 1
            count.stale += outcome == "STALE"
        if outcome == "STALE" or (outcome == "MISS" and 0 < r.status < 400):
            stores.append((r.end_t, r.t, r.key))
    return counts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replay_agrees_with_brute_force(seed: int) -> None:
    records = synthetic_stream(seed)
    for scale in SCALES:
        fast, slow = replay(records, WINDOWS, scale), brute_force(records, WINDOWS, scale)
        assert {t: (c.lookups, c.served, c.stale) for t, c in fast.items()} == {
            t: (c.lookups, c.served, c.stale) for t, c in slow.items()
        }, scale
    ratios = [overall(replay(records, WINDOWS, s)).hit_ratio for s in SCALES]
    assert ratios == sorted(ratios), "a longer TTL never serves fewer answers from the cache"


def test_replay_by_hand() -> None:
    stream = [
        _read(0.0, "/api/items/7", "api"),  # miss, stored at 0.01
        _read(1.0, "/api/items/7", "api"),  # hit
        _write(2.0, ("items", "item:7")),  # lands at 2.01
        _read(3.0, "/api/items/7", "api"),  # miss: written since; stored at 3.01
        _read(7.5, "/api/items/7", "api"),  # 4.49 s old: hit at 1x, miss at 0.5x
        _read(9.0, "/api/items/7", "api"),  # 5.99 s old (1x): miss; 0.5x: 1.49 s old: hit
        _read(20.0, "/pages/a", "html"),
        _read(35.0, "/pages/a", "html"),  # 14.99 s old: stale at 1x, hit at 2x
        _read(35.0, "/api/items/8", "api", status=404),
        _read(36.0, "/api/items/8", "api"),  # errors are not stored
    ]
    one = replay(stream, WINDOWS, 1.0)
    assert (one["api"].lookups, one["api"].served) == (7, 2)
    assert (one["html"].served, one["html"].stale) == (1, 1)
    half, twice = replay(stream, WINDOWS, 0.5), replay(stream, WINDOWS, 2.0)
    assert half["api"].served == 2 and twice["html"].stale == 0
    assert twice["api"].served == 3


def test_observed_and_groups_count_what_the_edge_said() -> None:
    stream = [
        _read(0.0, "/static/a.css", "static", "MISS", latency_s=0.010),
        _read(1.0, "/static/a.css", "static", "HIT", latency_s=0.002),
        _read(2.0, "/static/a.css", "static", "HIT", latency_s=0.004),
        _read(3.0, "/pages/a", "html", "STALE", latency_s=0.003),
        _write(4.0, ("items",)),
    ]
    seen = observed(stream)
    assert (seen["static"].lookups, seen["static"].served) == (3, 2)
    assert "dynamic" not in seen
    static, html, dynamic = by_tier(stream)
    assert (static.tier, html.tier, dynamic.tier) == ("static", "html", "dynamic")
    assert static.hit_ratio == pytest.approx(2 / 3)
    assert static.miss_cost_ms == pytest.approx(10.0 - 3.0)
    assert html.stale == 1 and html.miss_cost_ms is None
    assert dynamic.bypass == 1 and dynamic.hit_ratio is None
    assert next(g.label for g in by_route(stream)) == "GET /static/a.css"
