"""/api/items over HTTP against real `harness serve` processes: listing, filtering, errors,
idempotent writes across processes, and durability across a restart."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from harness.service.config import ServiceConfig
from harness.service.server import start_service

pytestmark = pytest.mark.e2e

NEW = {"name": "Blue Kettle", "category": "kitchen", "price": 19.5, "quantity": 4}


def _key() -> str:
    return f"test-{uuid.uuid4()}"


def _list(client: Any, filter_text: str | None = None, **params: Any) -> Any:
    query = dict(params)
    if filter_text is not None:
        query["filter"] = filter_text
    qs = "&".join(f"{name}={quote(str(value), safe='')}" for name, value in query.items())
    return client.get(f"/api/items?{qs}" if qs else "/api/items")


def test_default_page_and_cursor_walk(client: Any) -> None:
    first = _list(client, sort="price")
    assert first.status == 200
    assert first.body["count"] == 50 == len(first.body["items"])
    second = _list(client, sort="price", cursor=first.body["next_cursor"])
    prices = [item["price"] for item in first.body["items"] + second.body["items"]]
    assert prices == sorted(prices)
    assert not {i["id"] for i in first.body["items"]} & {i["id"] for i in second.body["items"]}
    assert _list(client, limit=1000).body["count"] == 1000
    assert _list(client, offset=1999, limit=5).body["count"] >= 1


def test_filter_from_the_docs_returns_only_matches(client: Any) -> None:
    reply = _list(client, "price>=10;status in (active,pending)", limit=200)
    assert reply.status == 200 and reply.body["count"] == 200
    assert all(
        i["price"] >= 10 and i["status"] in ("active", "pending") for i in reply.body["items"]
    )
    named = _list(client, 'name starts "Blue W";category!=tools', limit=1000).body["items"]
    assert named and all(i["name"].startswith("Blue W") and i["category"] != "tools" for i in named)


@pytest.mark.parametrize(
    ("filter_text", "position"),
    [("colour=red", 0), ("price>=abc", 7), ("status in (active", 17), ('name="x', 5)],
)
def test_bad_filter_is_a_400_with_position(client: Any, filter_text: str, position: int) -> None:
    reply = _list(client, filter_text)
    assert reply.status == 400
    assert reply.body["error"] == "bad_filter"
    assert reply.body["position"] == position
    assert reply.body["message"]


def test_injection_is_data(client: Any) -> None:
    for text in ("name=' OR 1=1 --", 'name="x\\" OR \\"1\\"=\\"1"', "id=1 OR 1=1"):
        reply = _list(client, text)
        assert reply.status in (200, 400), reply.body
        if reply.status == 200:
            assert reply.body["items"] == []
    assert _list(client, limit=1000, offset=1000).body["count"] >= 1000


def test_bad_parameters_are_400s_naming_them(client: Any) -> None:
    assert _list(client, sort="colour").body["error"] == "bad_sort"
    assert _list(client, limit=1001).body["field"] == "limit"
    assert _list(client, cursor="zzz").body["error"] == "bad_cursor"
    cursor = _list(client, sort="price").body["next_cursor"]
    assert _list(client, sort="name", cursor=cursor).status == 400


def test_get_bulk_and_404(client: Any) -> None:
    assert client.get("/api/items/7").body["id"] == 7
    missing = client.get("/api/items/999999")
    assert missing.status == 404 and missing.body["error"] == "not_found"
    bulk = client.get("/api/items/bulk?ids=3,1,999999,3")
    assert [i["id"] for i in bulk.body["items"]] == [3, 1]
    assert bulk.body["missing"] == [999999]
    assert client.get("/api/items/bulk?ids=a,b").status == 400


def test_write_replay_and_validation(client: Any) -> None:
    key = _key()
    created = client.post("/api/items", NEW, headers={"Idempotency-Key": key})
    assert created.status == 201
    seq = created.body["seq"]
    assert created.headers["x-write-seq"] == str(seq)
    replay = client.post("/api/items", NEW, headers={"Idempotency-Key": key})
    assert (replay.status, replay.raw) == (201, created.raw)
    assert replay.headers["idempotent-replay"] == "true"
    assert "idempotent-replay" not in created.headers
    item_id = created.body["item"]["id"]
    patched = client.request(
        "PATCH", f"/api/items/{item_id}", {"quantity": 9}, {"Idempotency-Key": _key()}
    )
    assert patched.status == 200 and patched.body["seq"] > seq
    assert client.get(f"/api/items/{item_id}").body["quantity"] == 9
    deleted = client.request("DELETE", f"/api/items/{item_id}", headers={"Idempotency-Key": _key()})
    assert deleted.body == {"deleted": item_id, "seq": patched.body["seq"] + 1}
    assert client.post("/api/items", NEW).body["error"] == "missing_idempotency_key"
    bad = client.post("/api/items", {**NEW, "price": "cheap"}, headers={"Idempotency-Key": _key()})
    assert (bad.status, bad.body["field"]) == (400, "price")
    unknown = client.post("/api/items", {**NEW, "colour": 1}, headers={"Idempotency-Key": _key()})
    assert (unknown.status, unknown.body["field"]) == (400, "colour")
    broken = client.post("/api/items", b"{nope", headers={"Idempotency-Key": _key()})
    assert (broken.status, broken.body["error"]) == (400, "invalid_json")
    reused = client.post("/api/items", {**NEW, "quantity": 1}, headers={"Idempotency-Key": key})
    assert reused.status == 422
    lookup = client.post("/api/writes/lookup", {"keys": [key, "never-used"]})
    assert lookup.body == {"found": {key: seq}, "missing": ["never-used"]}


def test_unknown_route_and_wrong_method_are_json(client: Any) -> None:
    for method, path, status in (("GET", "/nope", 404), ("PUT", "/api/items/1", 405)):
        reply = client.request(method, path)
        assert reply.status == status
        assert set(reply.body) == {"error", "message"}
        assert "Traceback" not in reply.raw.decode()


def _post_from_threads(client: Any, key: str, count: int) -> list[Any]:
    replies: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def post() -> None:
        barrier.wait(timeout=10)
        reply = client.post("/api/items", NEW, headers={"Idempotency-Key": key})
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return replies


def test_concurrent_writes_with_one_key_write_once_across_processes(
    tmp_path: Path, database: str, make_client: Callable[..., Any], make_token: Callable[..., str]
) -> None:
    config = ServiceConfig(port=0, workers=2, data_dir=tmp_path, seed_items=50, database=database)
    with start_service(config) as service:
        client = make_client(service.url, make_token(tmp_path, "user"))
        for round_number in range(3):
            key = f"race-{round_number}"
            replies = _post_from_threads(client, key, 20)
            assert len(replies) == 20
            assert {r.status for r in replies} == {201}
            assert len({r.raw for r in replies}) == 1
            fresh = [r.headers for r in replies if "idempotent-replay" not in r.headers]
            assert len(fresh) == 1, fresh
        admin = make_client(service.url, make_token(tmp_path, "admin"))
        log = admin.get("/admin/audit?limit=100").body["writes"]
        assert [entry["idempotency_key"] for entry in log] == ["race-0", "race-1", "race-2"]
        assert _list(admin, "id>50").body["count"] == 3


def test_acknowledged_writes_survive_a_restart(
    tmp_path: Path, database: str, make_client: Callable[..., Any], make_token: Callable[..., str]
) -> None:
    config = ServiceConfig(port=0, workers=1, data_dir=tmp_path, seed_items=20, database=database)
    acked: dict[str, tuple[int, int]] = {}
    with start_service(config) as service:
        client = make_client(service.url, make_token(tmp_path, "admin"))
        for number in range(40):
            key = f"durable-{number}"
            reply = client.post(
                "/api/items", {**NEW, "quantity": number}, headers={"Idempotency-Key": key}
            )
            assert reply.status == 201
            acked[key] = (reply.body["seq"], reply.body["item"]["id"])
        assert service.stop() == 0
    with start_service(config) as again:
        client = make_client(again.url, make_token(tmp_path, "admin"))
        found = client.post("/api/writes/lookup", {"keys": list(acked)}).body
        assert found == {"found": {k: seq for k, (seq, _) in acked.items()}, "missing": []}
        ids = ",".join(str(item_id) for _, item_id in acked.values())
        assert len(client.get(f"/api/items/bulk?ids={ids}").body["items"]) == 40
        assert _list(client, "id<=20", limit=100).body["count"] == 20  # not reseeded


def test_idempotency_keys_belong_to_their_caller(
    service: Any, make_client: Callable[..., Any], make_token: Callable[..., str]
) -> None:
    data_dir = service.config.data_dir
    alice = make_client(service.url, make_token(data_dir, "user", "user-1"))
    mallory = make_client(service.url, make_token(data_dir, "user", "user-2"))
    key, other_key = _key(), _key()
    mine = alice.post("/api/items", NEW, headers={"Idempotency-Key": key})
    alice.post("/api/items", {**NEW, "quantity": 7}, headers={"Idempotency-Key": other_key})
    # The same key and body from another caller is that caller's own create, not a replay.
    theirs = mallory.post("/api/items", NEW, headers={"Idempotency-Key": key})
    assert (mine.status, theirs.status) == (201, 201)
    assert "idempotent-replay" not in theirs.headers
    assert theirs.body["item"]["id"] != mine.body["item"]["id"]
    assert theirs.body["seq"] > mine.body["seq"]
    # Another body under someone else's key is no conflict: nothing tells the key exists.
    probe = mallory.post(
        "/api/items", {**NEW, "quantity": 1}, headers={"Idempotency-Key": other_key}
    )
    assert probe.status == 201 and "idempotent-replay" not in probe.headers
    # Each caller's replay answers its own write.
    assert alice.post("/api/items", NEW, headers={"Idempotency-Key": key}).raw == mine.raw
    assert mallory.post("/api/items", NEW, headers={"Idempotency-Key": key}).raw == theirs.raw
    reused = mallory.post("/api/items", {**NEW, "quantity": 2}, headers={"Idempotency-Key": key})
    assert reused.status == 422 and reused.body["seq"] == theirs.body["seq"]
    # Read-back's lookup (service role) still finds the key: its first write.
    reader = make_client(service.url, make_token(data_dir, "service"))
    found = reader.post("/api/writes/lookup", {"keys": [key, other_key]}).body["found"]
    assert found == {key: mine.body["seq"], other_key: mine.body["seq"] + 1}


def test_load_discovery_query_skips_items_the_load_creates(client: Any) -> None:
    from harness.load.discovery import DISCOVERY_PARAMS, LOAD_ITEM_PREFIX

    name = f"{LOAD_ITEM_PREFIX} item {uuid.uuid4().hex[:8]}"
    made = client.post("/api/items", {**NEW, "name": name}, headers={"Idempotency-Key": _key()})
    assert made.status == 201
    found = _list(client, **DISCOVERY_PARAMS)
    assert found.status == 200 and found.body["count"] == DISCOVERY_PARAMS["limit"]
    assert not [i for i in found.body["items"] if i["name"].startswith(LOAD_ITEM_PREFIX)]
    everything = _list(client, f"name starts {LOAD_ITEM_PREFIX}", limit=1000).body["items"]
    assert name in {i["name"] for i in everything}  # the filter, not the item, made the difference
