"""The master's side of the per-request cache record: cache.jsonl and cache-policy.json.

Workers send `[t_sent, t_done, name, key, x_cache, status, latency_us]` records
(`cache_log.CacheTap`). `CacheJournal` classifies each by the reference service's route
table: its tier, what makes its entry stale (`dep`) and what a successful write
invalidates, and writes cache.jsonl up to `MAX_RECORDS` lines; at the end it writes
cache-policy.json with each tier's freshness windows (docs/run-directory.md).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from harness.load.cache_log import cache_key
from harness.rundir import JsonlAppender, RunDir, iter_jsonl, write_json_atomic
from harness.rundir.cache import CachePolicy, CacheRecord, TierWindows, in_key_sample, key_level
from harness.service.cdn_policy import POLICIES
from harness.service.rbac import ROUTES

MAX_RECORDS = 250_000
"""Lines cache.jsonl keeps at most (~30 MB; up to twice that while the run goes)."""
_WRITES = frozenset({"POST", "PATCH", "DELETE"})
_ITEM = re.compile(r"^/api/items/(\d+)$")


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
    pattern = re.sub(r"\{[^}:]+:int\}", r"\\d+", pattern)
    pattern = re.sub(r"\{[^}]+\}", r"[^/]+", pattern)
    return re.compile(f"^{pattern}$")


_ROUTE_TIERS = tuple(
    (route.method, _template_regex(route.template), route.tier) for route in ROUTES
)


@lru_cache(maxsize=65_536)
def tier_of(method: str, path: str) -> str:
    """The reference service's tier of a request (`unknown` when no route matches)."""
    for route_method, regex, tier in _ROUTE_TIERS:
        if route_method == method and regex.match(path):
            return tier
    return "unknown"


def classify(wire: Sequence[Any]) -> CacheRecord:
    """The cache.jsonl record of one worker record (checked by `message_checks.check_intervals`)."""
    sent, done, name, target, label, status, latency_us = wire
    key = cache_key(target)
    method = name.split(" ", 1)[0]
    path = key.split("?", 1)[0]
    tier = tier_of(method, path)
    item = _ITEM.match(path)
    dep = None
    invalidates: tuple[str, ...] = ()
    if tier == "api":
        dep = f"item:{item.group(1)}" if item else "items"
    ok = 200 <= status < 300
    if ok and method in _WRITES and path.startswith("/api/items"):
        invalidates = ("items", f"item:{item.group(1)}") if item else ("items",)
    elif ok and method == "POST" and path == "/admin/cdn/purge":
        invalidates = ("*",)
    return CacheRecord(sent, done, name, key, tier, label, status, latency_us, dep, invalidates)


class CacheJournal:
    """Writes cache.jsonl (bounded) and cache-policy.json for one run.

    To stay bounded over a long run without losing its end, it samples cache keys, not
    requests: a key is kept while `in_key_sample(key, bits)`, so a kept key has every one of
    its requests and a replay of it stays exact. Whenever the kept reads would pass 3/4 of
    `max_records`, `bits` grows by one (half the keys go), and when the file holds twice
    that, it is rewritten with only the kept lines (and at the end). Writes and purges,
    which invalidate, are never sampled: at most a quarter of the bound; beyond it they,
    like anything past the bound, are counted as dropped.
    """

    def __init__(self, run_dir: RunDir, max_records: int = MAX_RECORDS) -> None:
        self.run_dir = run_dir
        self.max_records = max_records
        self.read_budget = max_records - max_records // 4
        self.dropped = 0
        self.sample_bits = 0
        self.writes = 0
        self.lines = 0  # in the file now, kept or not
        self._kept_by_level: Counter[int] = Counter()  # kept reads by trailing zero bits
        self._appender: JsonlAppender | None = None
        self._closed = False

    @property
    def written(self) -> int:
        """Lines the file will keep: writes and the reads of kept keys."""
        return self.writes + sum(
            n for lv, n in self._kept_by_level.items() if lv >= self.sample_bits
        )

    def add(self, records: Sequence[Sequence[Any]], dropped_by_worker: int = 0) -> None:
        """Write the records of one worker message (sampled by key, bounded)."""
        self.dropped += dropped_by_worker
        if self._closed:  # a worker's last message after the run was written: counted only
            self.dropped += len(records)
            return
        if not records:
            return
        if self._appender is None:
            self._appender = JsonlAppender(self.run_dir.cache)
        for wire in records:
            record = classify(wire)
            if record.invalidates:
                if self.writes >= self.max_records // 4:
                    self.dropped += 1
                    continue
                self.writes += 1
            else:
                level = key_level(record.key)
                if level < self.sample_bits:
                    continue
                self._kept_by_level[level] += 1
                while self.written - self.writes > self.read_budget:
                    self.sample_bits += 1
            self._appender.append(record.to_dict())
            self.lines += 1
        if self.lines > 2 * self.read_budget + self.writes:
            self._compact()

    def _compact(self) -> None:
        """Rewrite cache.jsonl with only the lines the current sample keeps."""
        assert self._appender is not None
        self._appender.close()
        path = self.run_dir.cache
        tmp = path.with_name(f".{path.name}.tmp")
        kept = 0
        with tmp.open("w", encoding="utf-8") as out:
            for line in iter_jsonl(path):
                if line.get("invalidates") or in_key_sample(str(line.get("key")), self.sample_bits):
                    out.write(json.dumps(line, separators=(",", ":")) + "\n")
                    kept += 1
        os.replace(tmp, path)
        self.lines = kept
        self._appender = JsonlAppender(path)

    def flush(self) -> None:
        if self._appender is not None:
            self._appender.flush()

    def close(self) -> None:
        """Compact and close cache.jsonl, write cache-policy.json (when a record was seen).
        Records that arrive later are only counted as dropped."""
        self._closed = True
        if self._appender is None:
            return
        self._compact()
        self._appender.close()
        document = policy(self.max_records, self.dropped, self.sample_bits)
        write_json_atomic(self.run_dir.cache_policy, document)


def policy(max_records: int, dropped: int, sample_bits: int = 0) -> Mapping[str, object]:
    """cache-policy.json's document: the reference edge's windows per tier."""
    tiers = {
        name: TierWindows(p.fresh_s, p.stale_while_revalidate_s, p.stale_if_error_s)
        for name, p in POLICIES.items()
    }
    return CachePolicy(tiers, max_records, dropped, sample_bits).to_dict()
