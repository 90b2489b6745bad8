"""Undoing forged writes on a real database: creates, updates and deletes reverted newest
first, a later legitimate change kept, each undo audited, and a second run a no-op."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from harness.faults.dr.revert import ACTOR, issued_jtis, revert_forged_writes
from harness.service.storage import Actor, SqliteDatabase, Storage, create_sqlite
from harness.service.tokens import Keyring

ITEM = {"name": "new", "category": "c", "price": 2.0, "quantity": 3, "status": "active"}


def rows(path: Path) -> dict[int, tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return {r[0]: r for r in conn.execute("SELECT * FROM items ORDER BY id").fetchall()}
    finally:
        conn.close()


def test_forged_writes_are_undone_and_legitimate_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "items.db"
    create_sqlite(path, 10)
    storage = Storage(SqliteDatabase(path))
    original = rows(path)
    legit = Actor("user", "k1", "legit-1")

    def forged(jti: str) -> Actor:
        return Actor("intruder", "k1", jti)

    storage.update(1, {"name": "by-user"}, "l1", legit)
    storage.update(2, {"name": "pwned", "price": 0.01}, "f1", forged("f1"))
    storage.delete(3, "f2", forged("f2"))
    created = storage.create(ITEM, "f3", forged("f3"))
    storage.update(4, {"name": "pwned", "price": 0.01}, "f4", forged("f4"))
    storage.update(4, {"name": "fixed-by-user"}, "l2", Actor("user", "k1", "legit-2"))
    storage.update(5, {"quantity": 0}, "f5", forged("f5"))
    storage.delete(5, "f6", forged("f6"))
    storage.db.close()

    outcomes = revert_forged_writes(path, {"legit-1", "legit-2"}, since_t=0.0)
    assert [o["seq"] for o in outcomes] == [8, 7, 5, 4, 3, 2]  # newest first, legit skipped
    assert all(o["changed"] for o in outcomes)
    after = rows(path)
    assert after[1][1] == "by-user"  # legitimate write untouched
    assert after[2] == original[2] and after[3] == original[3] and after[5] == original[5]
    assert after[4][1] == "fixed-by-user" and after[4][3] == original[4][3]  # later change wins
    created_id = created.body.split('"id":')[1].split(",")[0]
    assert int(created_id) not in after
    again = revert_forged_writes(path, {"legit-1", "legit-2"}, since_t=0.0)
    assert not any(o["changed"] for o in again) and rows(path) == after
    audit = Storage(SqliteDatabase(path)).audit(kid=None, sub=ACTOR, since_seq=0, limit=100)
    assert len(audit) == 6 and {w["op"] for w in audit} == {"create", "update", "delete"}


def test_the_issuance_log_lists_every_issued_jti(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path)
    keyring.issue("user", "a")
    keyring.issue("admin", "b")
    assert len(issued_jtis(tmp_path)) == 2
    line = (tmp_path / "issued.jsonl").read_text().splitlines()[0]
    assert set(json.loads(line)) == {"jti", "sub", "role", "kid", "iat", "exp"}
    assert (tmp_path / "issued.jsonl").stat().st_mode & 0o777 == 0o600
