"""The edge cache in front of the reference service: HTTP caching policy per tier, enforced.

`EdgeCache` is Falcon middleware placed after `AuthMiddleware`, so a request is authorized
before the cache may answer it. Each route's tier (from `rbac.ROUTES`) fixes its policy:

| tier | Cache-Control | edge: fresh for | then |
| static | public, max-age=31536000, immutable | a year | miss |
| html | public, max-age=10, stale-while-revalidate=30 | 10 s | 30 s served stale, refreshed |
| api | private, max-age=0, stale-if-error=60 | 5 s | 60 s usable if origin fails |
| dynamic | no-store | never stored (BYPASS) | |

Cacheable 200s get a strong ETag (BLAKE2b of the body); `If-None-Match` gets a 304 from
the cache or from the origin. Hits are answered in `process_resource` with
`resp.complete = True`, so the responder does not run.

Cross-process state lives in `state_dir` without locks on the hot path: counters in one
memory-mapped file per process (`shared_state.SharedCounters`), and generation numbers in
`<state_dir>/generation`: slot 0 is bumped by `purge()` (every process drops its entries on
its next request); slot 1 by any successful write under /api/items (list and bulk
entries become stale); slot 2 + item_id % ITEM_SLOTS by a write to that item (its entries
become stale). Write-staled entries are soft-purged: they may still be served under
stale-if-error, while a purge removes entries outright.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import falcon

from harness.service.cdn_policy import (
    CACHEABLE_GETS,
    COLLECTION_SLOT,
    FIRST_ITEM_SLOT,
    GENERATION_SLOTS,
    ITEM_SLOTS,
    NO_STORE,
    POLICIES,
    PURGE_SLOT,
    TierPolicy,
    dependency_slot,
    etag_matches,
)
from harness.service.cdn_refresh import Refresher, RefreshJob
from harness.service.rbac import route_for
from harness.service.shared_state import SharedCounters, SharedGenerations

_WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE"})
_WRITE_PREFIX = "/api/items"
_NOT_REPLAYED_HEADERS = frozenset({"set-cookie", "x-cache", "age", "content-length"})

COUNTER_NAMES: tuple[str, ...] = (
    "hits",
    "misses",
    "stale",
    "bypass",
    "not_modified",
    "stores",
    "evictions",
    "purges",
    "invalidations",
    "refreshes",
    "refresh_failures",
)
"""Slots of the edge counter files (`stats()` returns them summed over processes)."""


@dataclass(slots=True)
class Entry:
    """A stored 200: body, replayed headers, when it was stored, what staleness it tracks."""

    body: bytes
    etag: str
    headers: tuple[tuple[str, str], ...]
    stored_at: float
    policy: TierPolicy
    dep_slot: int
    dep_generation: int


@dataclass(slots=True)
class _Pending:
    """A cacheable request on its way to the origin (a miss)."""

    key: str
    policy: TierPolicy
    dep_slot: int
    dep_generation: int
    purge_generation: int
    fallback: Entry | None


_SERVED = "served"
_BYPASS = "bypass"


class EdgeCache:
    """An in-process LRU edge cache with counters and purges shared across processes.

    `max_entries` and `max_bytes` bound memory; bodies over `max_entry_bytes` are not
    stored. `clock` returns monotonic seconds (a parameter so tests need not wait).
    """

    def __init__(
        self,
        state_dir: Path,
        max_entries: int = 10_000,
        max_bytes: int = 64 << 20,
        max_entry_bytes: int = 1 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        self._store_lock = threading.Lock()
        self._open()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reopen_after_fork(ref))

    def _open(self) -> None:
        self._counters = SharedCounters(self.state_dir, COUNTER_NAMES)
        self._slot = {name: self._counters.index(name) for name in COUNTER_NAMES}
        self._hits_slot, self._stale_slot = self._slot["hits"], self._slot["stale"]
        self._generations = SharedGenerations(self.state_dir / "generation", GENERATION_SLOTS)
        self._seen_purge = self._generations.get(PURGE_SLOT)
        self._refresher = Refresher(self._finish_refresh)

    def _reopen(self) -> None:
        self._entries = OrderedDict()
        self._bytes = 0
        self._store_lock = threading.Lock()
        self._open()

    # -- middleware ---------------------------------------------------------------------

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: Any
    ) -> None:
        """Answer a fresh (or revalidating) hit here; otherwise note what to do on return."""
        policy = CACHEABLE_GETS.get(req.uri_template or "") if req.method == "GET" else None
        if policy is None:
            req.context.edge = _BYPASS
            return
        generations = self._generations.view
        purge_generation = generations[PURGE_SLOT]
        if purge_generation != self._seen_purge:
            self._drop_all()
            self._seen_purge = purge_generation
        key = _cache_key(req)
        if policy.vary_environ is not None:
            key = f"{key}\n{req.env.get(policy.vary_environ, '')}"
        dep_slot = dependency_slot(policy, params)
        generation = generations[dep_slot] if dep_slot >= 0 else 0
        entry = self._entries.get(key)
        fallback = None
        if entry is not None:
            age_s = self.clock() - entry.stored_at
            current = dep_slot < 0 or entry.dep_generation == generation
            if current and age_s < policy.fresh_s:
                self._answer(req, resp, entry, age_s, "HIT", self._hits_slot)
                try:  # noqa: SIM105 - contextlib.suppress costs more than the lookup
                    self._entries.move_to_end(key)
                except KeyError:  # evicted meanwhile by another thread
                    pass
                return
            if current and age_s < policy.fresh_s + policy.stale_while_revalidate_s:
                self._answer(req, resp, entry, age_s, "STALE", self._stale_slot)
                route = route_for(req.method, req.uri_template)
                assert route is not None
                dep = (dep_slot, generation, purge_generation)
                self._refresher.submit(
                    RefreshJob.capture(req, resp, resource, params, route, key, dep)
                )
                return
            if age_s < policy.fresh_s + policy.stale_if_error_s:
                fallback = entry
        req.context.edge = _Pending(key, policy, dep_slot, generation, purge_generation, fallback)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Label and count the outcome; store a cacheable 200; serve stale if the origin
        failed; invalidate api entries after a successful write."""
        state = getattr(req.context, "edge", None)
        if state is _SERVED:
            return
        if state is None:  # refused before the cache (401/403/404/405) or failed earlier
            if resp.get_header("Cache-Control") is None:
                resp.set_header("Cache-Control", NO_STORE)
            return
        if state is _BYPASS:
            resp.set_header("Cache-Control", NO_STORE)
            resp.set_header("X-Cache", "BYPASS")
            self._counters.add_at(self._slot["bypass"])
            self._invalidate_after_write(req, resp)
            return
        assert isinstance(state, _Pending)
        self._finish_miss(req, resp, state, req_succeeded)

    def _finish_miss(
        self, req: falcon.Request, resp: falcon.Response, state: _Pending, req_succeeded: bool
    ) -> None:
        status = resp.status_code
        fallback = state.fallback
        if status >= 500 and fallback is not None:
            age_s = self.clock() - fallback.stored_at
            if age_s < fallback.policy.fresh_s + fallback.policy.stale_if_error_s:
                resp.text = None
                resp.media = None
                resp.delete_header("Retry-After")
                resp.delete_header("Vary")
                self._answer(req, resp, fallback, age_s, "STALE", self._stale_slot)
                return
        self._counters.add_at(self._slot["misses"])
        resp.set_header("X-Cache", "MISS")
        if status != 200 or not req_succeeded or resp.stream is not None:
            resp.set_header("Cache-Control", NO_STORE)
            return
        entry = self._entry_from(resp, state.policy, state.dep_slot, state.dep_generation)
        if entry is None:
            return
        if self._generations.get(PURGE_SLOT) == state.purge_generation:
            self._store(state.key, entry)
        if etag_matches(req.get_header("If-None-Match"), entry.etag):
            _not_modified(resp)
            self._counters.add_at(self._slot["not_modified"])

    def _entry_from(
        self, resp: falcon.Response, policy: TierPolicy, dep_slot: int, dep_generation: int
    ) -> Entry | None:
        """Render `resp`, give it the tier's headers and an ETag; None if it must not be
        stored (it sets a cookie)."""
        body = resp.render_body() or b""
        resp.text = None
        resp.data = body
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        resp.set_header("Cache-Control", policy.cache_control)
        resp.set_header("ETag", etag)
        if policy.vary is not None:
            resp.set_header("Vary", policy.vary)
        if resp._cookies or resp._extra_headers:  # Set-Cookie: personal, never shared
            resp.set_header("Cache-Control", NO_STORE)
            return None
        headers = resp.headers
        kept = tuple((k, v) for k, v in headers.items() if k not in _NOT_REPLAYED_HEADERS)
        return Entry(body, etag, kept, self.clock(), policy, dep_slot, dep_generation)

    def _answer(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        entry: Entry,
        age_s: float,
        label: str,
        counter_slot: int,
    ) -> None:
        # The hot path: Falcon's own header dict (keys already lower-case) and the raw
        # environ, since set_header/get_header normalise names on every call.
        headers = resp._headers
        headers.update(entry.headers)
        headers["age"] = str(int(age_s))
        headers["x-cache"] = label
        if etag_matches(req.env.get("HTTP_IF_NONE_MATCH"), entry.etag):
            _not_modified(resp)
            self._counters.add_at(self._slot["not_modified"])
        else:
            resp.status = falcon.HTTP_200
            resp.data = entry.body
        resp.complete = True
        req.context.edge = _SERVED
        self._counters.add_at(counter_slot)

    def _invalidate_after_write(self, req: falcon.Request, resp: falcon.Response) -> None:
        template = req.uri_template or ""
        if req.method not in _WRITE_METHODS or not template.startswith(_WRITE_PREFIX):
            return
        if not 200 <= resp.status_code < 300 or resp.get_header("Idempotent-Replay") == "true":
            return
        self._generations.bump(COLLECTION_SLOT)
        item_id = _item_id(req)
        if item_id is not None:
            self._generations.bump(FIRST_ITEM_SLOT + item_id % ITEM_SLOTS)
        self._counters.add_at(self._slot["invalidations"])

    # -- storage ------------------------------------------------------------------------

    def _store(self, key: str, entry: Entry) -> None:
        size = len(entry.body)
        if size > self.max_entry_bytes:
            return
        with self._store_lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = entry
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.body)
                self._counters.add_at(self._slot["evictions"])
        self._counters.add_at(self._slot["stores"])

    def _drop_all(self) -> int:
        with self._store_lock:
            dropped = len(self._entries)
            self._entries = OrderedDict()
            self._bytes = 0
        return dropped

    def _finish_refresh(self, job: RefreshJob, resp: falcon.Response | None) -> None:
        """Called by the refresher thread with the origin's response (None if it failed)."""
        if resp is None or resp.status_code != 200 or resp.stream is not None:
            self._counters.add_at(self._slot["refresh_failures"])
            return
        policy = POLICIES[job.route.tier]
        entry = self._entry_from(resp, policy, job.dep_slot, job.dep_generation)
        if entry is not None and self._generations.get(PURGE_SLOT) == job.purge_generation:
            self._store(job.key, entry)
        self._counters.add_at(self._slot["refreshes"])

    # -- operations ---------------------------------------------------------------------

    def purge(self) -> int:
        """Drop every entry in every process sharing `state_dir`; returns how many this
        process dropped (the others drop theirs on their next request)."""
        self._seen_purge = self._generations.bump(PURGE_SLOT)
        self._counters.add_at(self._slot["purges"])
        return self._drop_all()

    def stats(self) -> dict[str, Any]:
        """Counters summed over every process on `state_dir`, plus this process's size.

        `hit_ratio` = (hits + stale) / (hits + stale + misses); bypasses are not counted.
        """
        totals = self._counters.totals()
        served = totals["hits"] + totals["stale"]
        looked_up = served + totals["misses"]
        stats: dict[str, Any] = dict(totals)
        stats["hit_ratio"] = served / looked_up if looked_up else 0.0
        stats["processes"] = self._counters.processes()
        stats["entries"] = len(self._entries)
        stats["bytes"] = self._bytes
        return stats

    def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until background refreshes are done; False if `timeout_s` passed first."""
        return self._refresher.drain(timeout_s)


def _cache_key(req: falcon.Request) -> str:
    """The path and the parsed query in one spelling: `?b=2&a=1`, `?a=1&b=2&` and `?&a=1&b=2`
    are one entry, so the number of keys is bounded by the distinct queries, not by how
    clients spell them (QueryGuard has refused unknown and repeated parameters)."""
    if not req.query_string:
        return req.path
    query = sorted(req.params.items())
    return req.path + "?" + urlencode(query) if query else req.path


def _item_id(req: falcon.Request) -> int | None:
    tail = req.path.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _not_modified(resp: falcon.Response) -> None:
    resp.status = falcon.HTTP_304
    resp.data = None
    resp.delete_header("Content-Type")  # a 304 has no content


def _reopen_after_fork(ref: weakref.ref[EdgeCache]) -> None:
    cache = ref()
    if cache is not None:
        cache._reopen()
