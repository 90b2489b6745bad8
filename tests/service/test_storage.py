"""Storage: seeding, idempotent sequenced writes, pagination, lookups, and failures that
become StorageUnavailable."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from harness.service import seed
from harness.service.storage import (
    SCHEMA,
    Actor,
    IdempotencyConflict,
    ItemNotFound,
    SqliteDatabase,
    Storage,
    StorageUnavailable,
    create_sqlite,
)
from harness.testing import wait_until

NEW = {"name": "Kettle", "category": "kitchen", "price": 12.5, "quantity": 3, "status": "active"}
ALICE = Actor(sub="alice", kid="k1", jti="j1")


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "items.db"
    create_sqlite(path, 200)
    return path


@pytest.fixture()
def storage(db_path: Path) -> Storage:
    return Storage(SqliteDatabase(db_path))


def test_seed_is_deterministic_and_happens_once(tmp_path: Path) -> None:
    first = list(seed.generate_items(300))
    assert first == list(seed.generate_items(300))
    digest = hashlib.sha256(repr(first[:5]).encode()).hexdigest()
    assert digest == hashlib.sha256(repr(list(seed.generate_items(5))).encode()).hexdigest()
    assert [row[0] for row in first] == list(range(1, 301))
    assert len({row[5] for row in first}) == 3
    assert first[0] == (
        1, "Heavy Wrench 997", "books", 199.72, 394, "pending", "2024-01-01T00:41:03+00:00"
    )  # fmt: skip
    path = tmp_path / "a.db"
    assert create_sqlite(path, 300) == 300
    assert create_sqlite(path, 300) == 0
    rows = sqlite3.connect(path).execute("SELECT * FROM items ORDER BY id").fetchall()
    assert rows == first


def test_schema_indexes_every_filterable_column(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    indexed = {
        row[0]
        for name in [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        ]
        for row in conn.execute(f"SELECT name FROM pragma_index_info('{name}')")
    }
    assert {"name", "category", "price", "quantity", "status", "created_at"} <= indexed
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_write_gets_seq_and_a_repeated_key_replays_it(storage: Storage) -> None:
    first = storage.create(NEW, "key-1", ALICE)
    again = storage.create(NEW, "key-1", ALICE)
    assert first.status == 201 and not first.replayed
    assert (again.status, again.body, again.seq, again.replayed) == (201, first.body, 1, True)
    body = json.loads(first.body)
    assert body["seq"] == 1 and body["item"]["id"] == 201
    assert storage.get(201) == body["item"]
    assert storage.create(NEW, "key-2", ALICE).seq == 2
    assert storage.lookup_writes(["key-1", "key-2", "nope"]) == {"key-1": 1, "key-2": 2}


def test_a_key_reused_for_another_request_is_a_conflict(storage: Storage) -> None:
    storage.create(NEW, "key-1", ALICE)
    with pytest.raises(IdempotencyConflict):
        storage.create({**NEW, "price": 1.0}, "key-1", ALICE)
    with pytest.raises(IdempotencyConflict):
        storage.delete(1, "key-1", ALICE)


def test_update_and_delete_keep_the_before_image_and_actor(storage: Storage) -> None:
    before = storage.get(7)
    updated = storage.update(7, {"price": 1.25}, "u1", ALICE)
    assert json.loads(updated.body)["item"]["price"] == 1.25
    deleted = storage.delete(7, "d1", Actor(sub="bob", kid="k2", jti="j2"))
    assert json.loads(deleted.body) == {"deleted": 7, "seq": 2}
    assert storage.get(7) is None
    log = storage.audit(kid=None, sub=None, since_seq=0, limit=10)
    assert [entry["op"] for entry in log] == ["update", "delete"]
    assert log[0]["before"] == before
    assert log[1]["before"]["price"] == 1.25
    assert [(e["sub"], e["kid"], e["jti"]) for e in log] == [
        ("alice", "k1", "j1"),
        ("bob", "k2", "j2"),
    ]
    assert [e["seq"] for e in storage.audit(kid="k2", sub=None, since_seq=0, limit=10)] == [2]
    assert storage.audit(kid=None, sub="alice", since_seq=1, limit=10) == []


def test_writes_to_missing_items_change_nothing(storage: Storage) -> None:
    with pytest.raises(ItemNotFound):
        storage.update(999, {"price": 1.0}, "u", ALICE)
    with pytest.raises(ItemNotFound):
        storage.delete(999, "d", ALICE)
    assert storage.last_seq() == 0
    assert storage.lookup_writes(["u", "d"]) == {}


def test_many_connections_racing_on_one_key_write_once(db_path: Path) -> None:
    results = []
    barrier = threading.Barrier(8)

    def write() -> None:
        own = Storage(SqliteDatabase(db_path))  # one connection each, as separate processes have
        barrier.wait()
        results.append(own.create(NEW, "same-key", ALICE))

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 8
    assert {(r.seq, r.body) for r in results} == {(1, results[0].body)}
    assert sum(not r.replayed for r in results) == 1
    count = sqlite3.connect(db_path).execute("SELECT COUNT(*) FROM writes").fetchone()[0]
    assert count == 1


@pytest.mark.parametrize("sort_field", ["id", "price", "status", "name", "created_at"])
@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_walk_the_whole_sort_order(
    storage: Storage, sort_field: str, descending: bool
) -> None:
    everything = [json.loads(text) for text in storage.list_items("1", [], limit=1000).items]
    expected = sorted(
        everything, key=lambda item: (item[sort_field], item["id"]), reverse=descending
    )
    seen: list[dict[str, Any]] = []
    after = None
    for _ in range(100):
        page = storage.list_items(
            "price >= ?", [0.0], sort_field=sort_field, descending=descending, limit=37, after=after
        )
        seen.extend(json.loads(text) for text in page.items)
        if page.next_key is None:
            break
        assert len(page.items) == 37
        after = page.next_key
    assert seen == expected
    assert everything[4] == storage.get(5)
    assert storage.list_items("id = ?", [-1]).items == []


def test_lookup_takes_ten_thousand_keys(storage: Storage) -> None:
    storage.create(NEW, "k-5000", ALICE)
    keys = [f"k-{i}" for i in range(10_000)]
    assert storage.lookup_writes(keys) == {"k-5000": 1}


def test_a_missing_database_file_is_unavailable(db_path: Path, storage: Storage) -> None:
    assert storage.get(1) is not None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(StorageUnavailable) as caught:
        storage.create(NEW, "after-unlink", ALICE)
    assert caught.value.code == "SQLITE_CANTOPEN"
    with pytest.raises(StorageUnavailable):
        storage.db.check()
    assert not db_path.exists()  # never silently recreated


def test_a_corrupt_database_is_unavailable(db_path: Path, storage: Storage) -> None:
    storage.db.check()
    with open(db_path, "r+b") as handle:
        handle.write(b"\0" * 4096)
    with pytest.raises(StorageUnavailable) as caught:
        storage.db.check()
    assert caught.value.code == "SQLITE_NOTADB"


def test_a_file_that_is_not_sqlite_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "items.db"
    path.write_bytes(b"not a database, just bytes" * 200)
    fresh = Storage(SqliteDatabase(path))
    with pytest.raises(StorageUnavailable) as caught:
        fresh.get(1)
    assert caught.value.code == "SQLITE_NOTADB"


def test_a_replaced_file_is_reopened(db_path: Path, storage: Storage, tmp_path: Path) -> None:
    other = tmp_path / "standby.db"
    create_sqlite(other, 3)
    assert storage.get(100) is not None
    storage.db.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    other.replace(db_path)
    storage.db.check()  # notices the new inode
    assert storage.get(100) is None and storage.get(3) is not None


def test_writers_waiting_on_a_commit_share_the_next_one(db_path: Path) -> None:
    db = SqliteDatabase(db_path)
    release = threading.Event()
    results: dict[str, object] = {}

    def write(name: str, fail: bool = False, hold: bool = False) -> None:
        def work(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", (name,))
            if hold:
                release.wait(10)
            if fail:
                raise ValueError(name)
            return name

        try:
            results[name] = db.transact(work)
        except ValueError as exc:
            results[name] = exc

    first = threading.Thread(target=write, args=("first",), kwargs={"hold": True})
    first.start()
    wait_until(lambda: db._group._leading)
    others = [
        threading.Thread(target=write, args=(name,), kwargs={"fail": name == "bad"})
        for name in ("a", "bad", "b")
    ]
    for thread in others:
        thread.start()
    wait_until(lambda: len(db._group._pending) == 3)  # all queued behind the first commit
    release.set()
    for thread in [first, *others]:
        thread.join(timeout=10)
    assert db.commits == 2
    assert results["first"] == "first" and results["a"] == "a" and results["b"] == "b"
    assert isinstance(results["bad"], ValueError)
    keys = {row[0] for row in sqlite3.connect(db_path).execute("SELECT key FROM meta")}
    assert {"first", "a", "b"} <= keys and "bad" not in keys


def test_many_threads_on_one_connection_get_gap_free_seqs(storage: Storage) -> None:
    outcomes: list[object] = []

    def write(number: int) -> None:
        for step in range(10):
            try:
                if step == 5:
                    outcomes.append(storage.delete(10_000 + number, f"d{number}", ALICE))
                else:
                    outcomes.append(storage.create(NEW, f"t{number}-{step}", ALICE).seq)
            except ItemNotFound as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    seqs = sorted(o for o in outcomes if isinstance(o, int))
    assert seqs == list(range(1, 12 * 9 + 1))
    assert sum(isinstance(o, ItemNotFound) for o in outcomes) == 12
    assert storage.db.commits <= 12 * 9


def test_a_write_log_from_before_scoped_keys_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_schema = SCHEMA.replace("    idem_scope TEXT NOT NULL DEFAULT '',\n", "").replace(
        "    before TEXT,\n    UNIQUE (idem_scope, idem_key)\n",
        "    before TEXT,\n    UNIQUE (idem_key)\n",
    )
    conn = sqlite3.connect(path)
    conn.executescript(old_schema)
    conn.execute(
        "INSERT INTO writes (seq, idem_key, fingerprint, op, item_id, actor_sub, t, status, "
        "response) VALUES (1, 'k', 'f', 'create', 1, 'alice', 0, 201, '{}')"
    )
    conn.commit()
    conn.close()
    create_sqlite(path, 0)
    storage = Storage(SqliteDatabase(path))
    assert storage.create(NEW, "k", Actor(sub="bob")).seq == 2  # bob's own key now
    with pytest.raises(IdempotencyConflict):  # the old write is alice's, under her key
        storage.create(NEW, "k", ALICE)
    assert storage.lookup_writes(["k"]) == {"k": 1}
