"""The master's side of the per-request cache record: cache.jsonl and cache-policy.json.

Workers send `[t_sent, t_done, name, key, x_cache, status, latency_us]` records
(`cache_log.CacheTap`). `CacheJournal` classifies each by the reference service's route
table: its tier, what makes its entry stale (`dep`) and what a successful write
invalidates, and writes cache.jsonl up to `MAX_RECORDS` lines; at the end it writes
cache-policy.json with each tier's freshness windows (docs/run-directory.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.load.cache_log import cache_key
from harness.rundir import JsonlAppender, RunDir, write_json_atomic
from harness.rundir.cache import CachePolicy, CacheRecord, TierWindows
from harness.service.cdn_policy import POLICIES
from harness.service.rbac import ROUTES

MAX_RECORDS = 250_000
"""Lines of cache.jsonl at most (~30 MB); later requests are counted in `dropped`."""
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


def tier_of(method: str, path: str) -> str:
    """The reference service's tier of a request (`unknown` when no route matches)."""
    for route_method, regex, tier in _ROUTE_TIERS:
        if route_method == method and regex.match(path):
            return tier
    return "unknown"


def classify(wire: Sequence[Any]) -> CacheRecord:
    """The cache.jsonl record of one worker record (checked by `cluster.check_intervals`)."""
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
    """Writes cache.jsonl (bounded) and cache-policy.json for one run."""

    def __init__(self, run_dir: RunDir, max_records: int = MAX_RECORDS) -> None:
        self.run_dir = run_dir
        self.max_records = max_records
        self.written = 0
        self.dropped = 0
        self._appender: JsonlAppender | None = None

    def add(self, records: Sequence[Sequence[Any]], dropped_by_worker: int = 0) -> None:
        """Write the records of one worker message, up to the run's bound."""
        self.dropped += dropped_by_worker
        if not records:
            return
        if self._appender is None:
            self._appender = JsonlAppender(self.run_dir.cache)
        room = max(self.max_records - self.written, 0)
        for wire in records[:room]:
            self._appender.append(classify(wire).to_dict())
        self.written += min(room, len(records))
        self.dropped += max(len(records) - room, 0)

    def flush(self) -> None:
        if self._appender is not None:
            self._appender.flush()

    def close(self) -> None:
        """Close cache.jsonl and write cache-policy.json (only when a record was seen)."""
        if self._appender is None:
            return
        self._appender.close()
        write_json_atomic(self.run_dir.cache_policy, policy(self.max_records, self.dropped))


def policy(max_records: int, dropped: int) -> Mapping[str, object]:
    """cache-policy.json's document: the reference edge's windows per tier."""
    tiers = {
        name: TierWindows(p.fresh_s, p.stale_while_revalidate_s, p.stale_if_error_s)
        for name, p in POLICIES.items()
    }
    return CachePolicy(tiers, max_records, dropped).to_dict()
