"""EdgeCache behind AuthMiddleware on a small Falcon app, with a hand-driven clock."""

from __future__ import annotations

import http.client
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import pytest

from harness.service.auth import AuthMiddleware
from harness.service.cdn import POLICIES, EdgeCache
from harness.service.config import ServiceConfig
from harness.service.server import start_service
from harness.service.tokens import Keyring


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Origin:
    """One resource for every route; counts calls; can fail or set a cookie on demand."""

    def __init__(self) -> None:
        self.calls = 0
        self.version = 1
        self.fail: Exception | None = None
        self.cookie = False

    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: object) -> None:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        if self.cookie:
            resp.set_cookie("session", "s1")
        if params.get("item_id") == 404:
            raise falcon.HTTPNotFound()
        resp.media = {"path": req.path, "query": req.query_string, "v": self.version}

    def _write(self, req: falcon.Request, resp: falcon.Response, **params: object) -> None:
        self.version += 1
        resp.status = falcon.HTTP_201 if req.method == "POST" else falcon.HTTP_200
        if req.get_header("X-Replay"):
            resp.set_header("Idempotent-Replay", "true")
        resp.media = {"seq": self.version}

    on_post = on_patch = on_delete = _write


class Edge:
    """A client on a fresh app sharing `state_dir` and `keyring`, with its own cache."""

    def __init__(self, keyring: Keyring, state_dir: Path, clock: Clock, **cache: int) -> None:
        self.origin = Origin()
        self.cache = EdgeCache(state_dir, clock=clock, **cache)
        app = falcon.App(middleware=[AuthMiddleware(keyring), self.cache])
        for template in [
            "/",
            "/static/{path}",
            "/pages/{slug}",
            "/healthz",
            "/api/items",
            "/api/items/{item_id:int}",
            "/api/me",
        ]:
            app.add_route(template, self.origin)
        self.client = falcon.testing.TestClient(app)

    def get(self, path: str, token: str | None = None, **headers: str) -> falcon.testing.Result:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.simulate_get(path, headers=headers)

    def write(self, method: str, path: str, token: str, **headers: str) -> falcon.testing.Result:
        headers["Authorization"] = f"Bearer {token}"
        return self.client.simulate_request(method, path, headers=headers, json={})


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring(tmp_path / "data")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def edge(keyring: Keyring, tmp_path: Path, clock: Clock) -> Edge:
    return Edge(keyring, tmp_path / "cdn", clock)


@pytest.fixture
def viewer(keyring: Keyring) -> str:
    return keyring.issue("viewer", "vera")


@pytest.fixture
def user(keyring: Keyring) -> str:
    return keyring.issue("user", "ulla")


@pytest.mark.parametrize(
    ("path", "tier"),
    [("/static/app.css", "static"), ("/", "html"), ("/pages/about", "html"), ("/api/items", "api")],
)
def test_cacheable_tiers_headers(edge: Edge, viewer: str, path: str, tier: str) -> None:
    result = edge.get(path, viewer)
    assert result.status_code == 200
    assert result.headers["Cache-Control"] == POLICIES[tier].cache_control
    assert result.headers["X-Cache"] == "MISS"
    assert re.fullmatch(r'"[0-9a-f]{32}"', result.headers["ETag"])
    assert ("Vary" in result.headers) == (tier == "api")
    if tier == "api":
        assert result.headers["Vary"] == "Accept-Encoding"
    again = edge.get(path, viewer)
    assert again.headers["X-Cache"] == "HIT" and again.headers["Age"] == "0"
    assert again.headers["ETag"] == result.headers["ETag"] and again.json == result.json
    assert again.headers["Cache-Control"] == result.headers["Cache-Control"]
    assert edge.origin.calls == 1


def test_tier_cache_control_values() -> None:
    assert POLICIES["static"].cache_control == "public, max-age=31536000, immutable"
    assert POLICIES["html"].cache_control == "public, max-age=10, stale-while-revalidate=30"
    assert POLICIES["api"].cache_control == "private, max-age=0, stale-if-error=60"
    assert POLICIES["dynamic"].cache_control == "no-store"


@pytest.mark.parametrize("path", ["/healthz", "/api/me"])
def test_dynamic_routes_bypass(edge: Edge, viewer: str, path: str) -> None:
    for _ in range(2):
        result = edge.get(path, viewer)
        assert result.headers["Cache-Control"] == "no-store"
        assert result.headers["X-Cache"] == "BYPASS" and "ETag" not in result.headers
    assert edge.origin.calls == 2
    assert edge.cache.stats()["bypass"] == 2


def test_if_none_match_gives_304_from_origin_and_from_cache(edge: Edge, viewer: str) -> None:
    etag = edge.get("/api/items/1", viewer).headers["ETag"]
    from_cache = edge.get("/api/items/1", viewer, **{"If-None-Match": etag})
    assert from_cache.status_code == 304 and from_cache.headers["X-Cache"] == "HIT"
    assert from_cache.content == b"" and from_cache.headers["ETag"] == etag
    other = edge.get("/api/items/1", viewer, **{"If-None-Match": '"nope"'})
    assert other.status_code == 200
    fresh_edge = edge.get("/api/items/2", viewer)  # a new URL: the origin answers the 304
    from_origin = edge.get("/pages/x", None, **{"If-None-Match": f'"x", W/{etag}'})
    assert from_origin.status_code == 200  # different resource, different ETag
    page_etag = from_origin.headers["ETag"]
    edge.cache.purge()
    revalidated = edge.get("/pages/x", None, **{"If-None-Match": page_etag})
    assert revalidated.status_code == 304 and revalidated.headers["X-Cache"] == "MISS"
    assert fresh_edge.status_code == 200
    assert edge.cache.stats()["not_modified"] == 2


def test_counts_hits_misses_and_age(edge: Edge, viewer: str, clock: Clock) -> None:
    edge.get("/static/a.js")
    clock.now += 3600
    result = edge.get("/static/a.js")
    assert result.headers["X-Cache"] == "HIT" and result.headers["Age"] == "3600"
    edge.get("/static/b.js")
    stats = edge.cache.stats()
    assert (stats["hits"], stats["misses"], stats["stale"], stats["bypass"]) == (1, 2, 0, 0)
    assert stats["hit_ratio"] == pytest.approx(1 / 3)
    assert stats["entries"] == 2 and stats["stores"] == 2


def test_key_includes_query_and_vary_header(edge: Edge, viewer: str) -> None:
    edge.get("/api/items?limit=5", viewer)
    assert edge.get("/api/items?limit=6", viewer).headers["X-Cache"] == "MISS"
    assert edge.get("/api/items?limit=5", viewer).headers["X-Cache"] == "HIT"
    gz = edge.get("/api/items?limit=5", viewer, **{"Accept-Encoding": "gzip"})
    assert gz.headers["X-Cache"] == "MISS"


def test_authorization_is_checked_before_the_cache(edge: Edge, viewer: str) -> None:
    cached = edge.get("/api/items/3", viewer)
    assert (
        cached.status_code == 200 and edge.get("/api/items/3", viewer).headers["X-Cache"] == "HIT"
    )
    anonymous = edge.get("/api/items/3")
    assert anonymous.status_code == 401
    assert anonymous.json["error"] == "unauthorized" and "/api/items/3" not in anonymous.text
    assert "X-Cache" not in anonymous.headers
    assert anonymous.headers["Cache-Control"] == "no-store"
    forged = edge.get("/api/items/3", viewer[:-4] + "AAAA")
    assert forged.status_code == 401 and "X-Cache" not in forged.headers
    assert edge.origin.calls == 1


def test_stale_while_revalidate_serves_stale_and_refreshes(edge: Edge, clock: Clock) -> None:
    first = edge.get("/pages/home")
    assert first.json["v"] == 1
    edge.origin.version = 2
    clock.now += 15  # past max-age=10, inside stale-while-revalidate=30
    stale = edge.get("/pages/home")
    assert stale.headers["X-Cache"] == "STALE" and stale.json["v"] == 1
    assert stale.headers["Age"] == "15"
    assert edge.cache.drain(10.0)
    refreshed = edge.get("/pages/home")
    assert refreshed.headers["X-Cache"] == "HIT" and refreshed.json["v"] == 2
    assert refreshed.headers["Age"] == "0"
    stats = edge.cache.stats()
    assert (stats["stale"], stats["refreshes"], edge.origin.calls) == (1, 1, 2)


def test_stale_while_revalidate_window_ends(edge: Edge, clock: Clock) -> None:
    edge.get("/")
    clock.now += 41
    assert edge.get("/").headers["X-Cache"] == "MISS"


def test_failed_refresh_keeps_stale_entry(edge: Edge, clock: Clock) -> None:
    edge.get("/pages/a")
    edge.origin.fail = RuntimeError("origin down")
    clock.now += 12
    assert edge.get("/pages/a").headers["X-Cache"] == "STALE"
    assert edge.cache.drain(10.0)
    assert edge.get("/pages/a").headers["X-Cache"] == "STALE"
    assert edge.cache.drain(10.0)
    assert edge.cache.stats()["refresh_failures"] == 2


@pytest.mark.parametrize(
    "failure", [RuntimeError("boom"), falcon.HTTPServiceUnavailable(description="storage")]
)
def test_stale_if_error_serves_api_entry_when_origin_fails(
    edge: Edge, viewer: str, clock: Clock, failure: Exception
) -> None:
    good = edge.get("/api/items/9", viewer)
    clock.now += 30  # past the edge's 5 s, inside stale-if-error=60
    edge.origin.fail = failure
    stale = edge.get("/api/items/9", viewer)
    assert stale.status_code == 200 and stale.headers["X-Cache"] == "STALE"
    assert stale.json == good.json and stale.headers["ETag"] == good.headers["ETag"]
    assert "Retry-After" not in stale.headers
    assert edge.cache.stats()["stale"] == 1
    clock.now += 40  # beyond the stale-if-error window: the failure shows
    assert edge.get("/api/items/9", viewer).status_code >= 500


def test_origin_errors_are_not_stored(edge: Edge, viewer: str) -> None:
    for _ in range(2):
        result = edge.get("/api/items/404", viewer)
        assert result.status_code == 404 and result.headers["Cache-Control"] == "no-store"
        assert result.headers["X-Cache"] == "MISS"
    assert edge.origin.calls == 2


def test_responses_setting_cookies_are_not_stored(edge: Edge) -> None:
    edge.origin.cookie = True
    assert edge.get("/pages/c").headers["Cache-Control"] == "no-store"
    assert edge.get("/pages/c").headers["X-Cache"] == "MISS"


def test_write_invalidates_collection_and_that_item(edge: Edge, viewer: str, user: str) -> None:
    for path in ["/api/items", "/api/items/1", "/api/items/2", "/pages/p"]:
        edge.get(path, viewer)
    result = edge.write("PATCH", "/api/items/1", user)
    assert result.status_code == 200 and result.headers["X-Cache"] == "BYPASS"
    assert result.headers["Cache-Control"] == "no-store"
    assert edge.get("/api/items", viewer).headers["X-Cache"] == "MISS"
    assert edge.get("/api/items/1", viewer).headers["X-Cache"] == "MISS"
    assert edge.get("/api/items/2", viewer).headers["X-Cache"] == "HIT"
    assert edge.get("/pages/p").headers["X-Cache"] == "HIT"
    edge.write("POST", "/api/items", user)
    assert edge.get("/api/items", viewer).headers["X-Cache"] == "MISS"
    assert edge.get("/api/items/1", viewer).headers["X-Cache"] == "HIT"
    assert edge.cache.stats()["invalidations"] == 2


def test_replayed_or_refused_writes_do_not_invalidate(
    edge: Edge, viewer: str, keyring: Keyring
) -> None:
    edge.get("/api/items", viewer)
    edge.write("POST", "/api/items", keyring.issue("user", "u"), **{"X-Replay": "1"})
    assert edge.write("POST", "/api/items", viewer).status_code == 403
    assert edge.get("/api/items", viewer).headers["X-Cache"] == "HIT"


def test_write_in_one_process_invalidates_another(
    keyring: Keyring, tmp_path: Path, clock: Clock, viewer: str, user: str
) -> None:
    a = Edge(keyring, tmp_path / "cdn", clock)
    b = Edge(keyring, tmp_path / "cdn", clock)
    b.get("/api/items/5", viewer)
    assert b.get("/api/items/5", viewer).headers["X-Cache"] == "HIT"
    a.write("DELETE", "/api/items/5", user)
    assert b.get("/api/items/5", viewer).headers["X-Cache"] == "MISS"


def test_purge_reaches_every_instance_and_counters_add_up(
    keyring: Keyring, tmp_path: Path, clock: Clock
) -> None:
    a = Edge(keyring, tmp_path / "cdn", clock)
    b = Edge(keyring, tmp_path / "cdn", clock)
    for edge in (a, b):
        edge.get("/static/x")
        edge.get("/static/x")
    assert a.cache.purge() == 1
    assert b.get("/static/x").headers["X-Cache"] == "MISS"
    assert a.get("/static/x").headers["X-Cache"] == "MISS"
    stats = a.cache.stats()
    assert (stats["hits"], stats["misses"], stats["purges"]) == (2, 4, 1)
    assert {k: v for k, v in stats.items() if k not in ("entries", "bytes")} == {
        k: v for k, v in b.cache.stats().items() if k not in ("entries", "bytes")
    }


def test_lru_bounds_entries(keyring: Keyring, tmp_path: Path, clock: Clock) -> None:
    edge = Edge(keyring, tmp_path / "cdn", clock, max_entries=3)
    for n in range(5):
        edge.get(f"/pages/{n}")
    edge.get("/pages/2")  # most recently used survives the next eviction
    edge.get("/pages/9")
    stats = edge.cache.stats()
    assert stats["entries"] == 3 and stats["evictions"] == 3
    assert edge.get("/pages/2").headers["X-Cache"] == "HIT"
    assert edge.get("/pages/0").headers["X-Cache"] == "MISS"


def _fetch(url: str, path: str, token: str | None = None, method: str = "GET") -> tuple[int, Any]:
    """One request on a fresh connection (so requests spread over worker processes)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
        reply = conn.getresponse()
        raw = reply.read()
    finally:
        conn.close()
    return reply.status, json.loads(raw) if raw.startswith(b"{") else reply.getheader("X-Cache")


def _fetch_static_until_both_processes_served(url: str, admin: str) -> list[str]:
    """Fetch from 8 threads until the stats show two processes (granian does not promise
    to spread connections evenly, and on a busy machine the second process may still be
    starting, so a fixed count of requests may all land on one). Bounded: 60 s, 1,600."""
    labels: list[str] = []
    deadline = time.monotonic() + 60.0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(100):
            labels += pool.map(lambda _: _fetch(url, "/static/app.css")[1], range(16))
            if _fetch(url, "/admin/cdn/stats", admin)[1]["processes"] >= 2:
                break
            if time.monotonic() > deadline:
                break
    return labels


@pytest.mark.e2e
def test_counters_and_purge_across_worker_processes(tmp_path: Path) -> None:
    config = ServiceConfig(port=0, workers=2, data_dir=tmp_path, seed_items=20)
    with start_service(config) as service:
        admin = Keyring(tmp_path).issue("admin", "ops")
        labels = _fetch_static_until_both_processes_served(service.url, admin)
        assert set(labels) <= {"HIT", "MISS"} and 1 <= labels.count("MISS") <= 2
        status, stats = _fetch(service.url, "/admin/cdn/stats", admin)
        assert status == 200
        assert (stats["hits"], stats["misses"]) == (labels.count("HIT"), labels.count("MISS"))
        assert stats["processes"] >= 2
        status, purged = _fetch(service.url, "/admin/cdn/purge", admin, method="POST")
        assert status == 200 and purged["purged"] in (0, 1, 2)
        after = [_fetch(service.url, "/static/app.css")[1] for _ in range(30)]
        assert after[0] == "MISS" and 1 <= after.count("MISS") <= 2
        _, stats = _fetch(service.url, "/admin/cdn/stats", admin)
        assert stats["hits"] + stats["misses"] == len(labels) + 30 and stats["purges"] == 1
