"""The per-request cache record: canonical keys, the worker's bound, the master's tiers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from harness.load.cache_journal import CacheJournal, classify, tier_of
from harness.load.cache_log import CacheTap, cache_key
from harness.rundir import RunDir, read_cache, read_cache_policy


def test_cache_key_is_the_edges_canonical_spelling() -> None:
    assert cache_key("http://127.0.0.1:9/api/items?b=2&a=1&c=") == "/api/items?a=1&b=2"
    assert cache_key("http://h/static/app.css") == "/static/app.css"


def test_tiers_follow_the_route_table() -> None:
    assert tier_of("GET", "/api/items/bulk") == "api"
    assert tier_of("GET", "/api/items/12") == "api"
    assert tier_of("GET", "/pages/about") == "html"
    assert tier_of("GET", "/static/app.css") == "static"
    assert tier_of("DELETE", "/api/items/12") == "dynamic"
    assert tier_of("GET", "/nowhere") == "unknown"


def test_writes_and_purges_say_what_they_invalidate() -> None:
    read = classify([1.0, 1.1, "GET /api/items/{id}", "/api/items/7", "MISS", 200, 5])
    assert read.tier == "api" and read.dep == "item:7" and read.invalidates == ()
    listing = classify([1.0, 1.1, "GET /api/items", "/api/items?limit=5&a=&f=x", "HIT", 200, 5])
    assert listing.dep == "items" and listing.key == "/api/items?f=x&limit=5"
    patch = classify([1.0, 1.1, "PATCH /api/items/{id}", "/api/items/7", "BYPASS", 200, 5])
    assert patch.invalidates == ("items", "item:7")
    refused = classify([1.0, 1.1, "PATCH /api/items/{id}", "/api/items/7", "BYPASS", 409, 5])
    assert refused.invalidates == ()
    purge = classify([1.0, 1.1, "POST /admin/cdn/purge", "/admin/cdn/purge", "BYPASS", 200, 5])
    assert purge.invalidates == ("*",)


def test_the_tap_keeps_answers_with_x_cache_up_to_its_bound() -> None:
    tap = CacheTap(max_per_take=2)
    hit = SimpleNamespace(headers={"X-Cache": "HIT"}, status_code=200)
    for _ in range(3):
        tap.on_request("GET", "/", 2.5, response=hit, start_time=100.0, url="http://h/")
    tap.on_request("GET", "/x", 1.0, response=SimpleNamespace(headers={}), url="http://h/x")
    records, dropped = tap.take()
    assert records == [[100.0, 100.0025, "GET /", "/", "HIT", 200, 2500]] * 2 and dropped == 1
    assert tap.take() == ([], 0)


def test_the_journal_bounds_the_file_and_writes_the_policy(tmp_path: Path) -> None:
    journal = CacheJournal(RunDir(tmp_path), max_records=3)
    wire = [1.0, 1.1, "GET /", "/", "MISS", 200, 5]
    journal.add([wire, wire], dropped_by_worker=1)
    journal.add([wire, wire])
    journal.close()
    assert len(list(read_cache(tmp_path / "cache.jsonl"))) == 3
    policy = read_cache_policy(tmp_path / "cache-policy.json")
    assert policy is not None and policy.dropped == 2 and policy.max_records == 3
    assert policy.tiers["html"].fresh_s == 10.0
    assert policy.tiers["html"].stale_while_revalidate_s == 30.0
