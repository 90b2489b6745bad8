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


def test_the_journal_bounds_writes_and_writes_the_policy(tmp_path: Path) -> None:
    journal = CacheJournal(RunDir(tmp_path), max_records=8)  # writes: 2 at most
    read = [1.0, 1.1, "GET /", "/", "MISS", 200, 5]
    write = [1.0, 1.1, "POST /api/items", "/api/items", "BYPASS", 201, 5]
    journal.add([read, write, write], dropped_by_worker=1)
    journal.add([read, write])
    journal.close()
    assert len(list(read_cache(tmp_path / "cache.jsonl"))) == 4
    policy = read_cache_policy(tmp_path / "cache-policy.json")
    assert policy is not None and policy.dropped == 2 and policy.max_records == 8
    assert policy.key_sample_bits == 0
    assert policy.tiers["html"].fresh_s == 10.0
    assert policy.tiers["html"].stale_while_revalidate_s == 30.0


def test_a_long_stream_keeps_whole_keys_under_the_bound(tmp_path: Path) -> None:
    journal = CacheJournal(RunDir(tmp_path), max_records=2000)
    sent: dict[str, int] = {}
    for second in range(50):  # 50 s of 400 keys read once a second, and a write every 5 s
        batch = []
        for i in range(400):
            key = f"/pages/p{i}"
            sent[key] = sent.get(key, 0) + 1
            batch.append([second + 0.1, second + 0.2, "GET /pages/{slug}", key, "HIT", 200, 5])
        if second % 5 == 0:
            batch.append([second + 0.5, second + 0.6, "PATCH /api/items/{id}", "/api/items/3",
                          "BYPASS", 200, 5])  # fmt: skip
        journal.add(batch)
        assert journal.lines <= 2 * 2000, "bounded while the run goes"
    journal.close()
    policy = read_cache_policy(tmp_path / "cache-policy.json")
    assert policy is not None and policy.dropped == 0
    # 20,000 reads into a budget of 1,500: one key in 16 is kept
    assert policy.key_sample_bits == 4
    records = list(read_cache(tmp_path / "cache.jsonl"))
    assert len(records) <= 2000 and all(policy.kept(r) for r in records)
    kept: dict[str, int] = {}
    for r in records:
        kept[r.key] = kept.get(r.key, 0) + 1
    assert kept.pop("/api/items/3") == 10, "every write is kept"
    assert 10 <= len(kept) <= 45, len(kept)
    assert all(n == sent[k] for k, n in kept.items()), "a kept key is whole"


def test_a_message_after_close_is_counted_not_written(tmp_path: Path) -> None:
    journal = CacheJournal(RunDir(tmp_path))
    read = [1.0, 1.1, "GET /", "/", "MISS", 200, 5]
    journal.add([read])
    journal.close()
    journal.add([read, read], dropped_by_worker=1)  # a worker's last message, late
    assert len(list(read_cache(tmp_path / "cache.jsonl"))) == 1 and journal.dropped == 3
