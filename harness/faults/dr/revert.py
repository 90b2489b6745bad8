"""Undo what forged tokens wrote: the `restore_attacker_changes` runbook action.

A write was made with a forged token when its token's `jti` (kept with every write in the
write log, with the actor's `sub` and `kid` and the item's before-image: what
`GET /admin/audit` shows) is not in the keyring's issuance log `<data>/issued.jsonl`:
the service never issued that token. Each such write is undone, newest first, in one
transaction on the primary, so nothing written meanwhile is lost:

- a create: the item is deleted (if it is still there);
- a delete: the item is put back with its id and before-image (if the id is free);
- an update: each field the attacker changed is set back to its before-image value, but
  only while it still holds what the attacker wrote: a later legitimate change wins.

Each undo is itself a write in the log (actor `runbook`, idempotency key `revert:<seq>`),
so the audit trail shows it and running the action again changes nothing more. The edge
cache is purged afterwards so no response built from attacker data is served.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.faults.base import FaultContext
from harness.faults.dr.breach import leak_of
from harness.faults.dr.common import (
    PRIMARY_LOCK,
    primary_path,
    purge_edge_cache,
    require_deployment,
)
from harness.rundir import iter_jsonl
from harness.service.storage import ITEM_COLUMNS
from harness.service.tokens import ISSUED_LOG

ACTOR = "runbook"
WRITABLE = ITEM_COLUMNS[1:6]
DETAILS_KEPT = 50


def issued_jtis(data_dir: Path) -> set[str]:
    """Every jti the keyring on `data_dir` ever issued (from its issuance log)."""
    return {str(r["jti"]) for r in iter_jsonl(Path(data_dir) / ISSUED_LOG) if "jti" in r}


def restore_attacker_changes(
    ctx: FaultContext, since_leak: bool = True, purge_cdn: bool = True
) -> dict[str, Any]:
    """Undo every write made with a token the keyring never issued (see the module)."""
    deployment = require_deployment(ctx, "restore_attacker_changes")
    data_dir = Path(deployment.data_dir)
    leak = leak_of(data_dir) if since_leak else None
    since_t = leak.t - 1.0 if leak is not None else 0.0
    issued = issued_jtis(data_dir)
    with PRIMARY_LOCK:
        outcomes = revert_forged_writes(primary_path(deployment), issued, since_t)
    if purge_cdn:
        purge_edge_cache(data_dir)
    changed = [o for o in outcomes if o["changed"]]
    return {
        "forged_writes": len(outcomes),
        "reverted": len(changed),
        "unchanged": len(outcomes) - len(changed),
        "since_t": since_t,
        "issued_tokens": len(issued),
        "edge_cache_purged": purge_cdn,
        "details": outcomes[:DETAILS_KEPT],
    }


def revert_forged_writes(db: Path, issued: set[str], since_t: float) -> list[dict[str, Any]]:
    """Undo, newest first and in one transaction, every write since `since_t` whose jti is
    not in `issued`; one outcome per forged write."""
    conn = sqlite3.connect(
        f"file:{db.resolve()}?mode=rw", uri=True, isolation_level=None, timeout=10.0
    )
    try:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "SELECT seq, op, item_id, actor_sub, actor_kid, actor_jti, before, response "
            "FROM writes WHERE actor_jti IS NOT NULL AND t >= ? ORDER BY seq DESC",
            (since_t,),
        ).fetchall()
        outcomes = []
        for seq, op, item_id, sub, kid, jti, before, response in rows:
            if jti in issued:
                continue
            outcome = {"seq": seq, "op": op, "item_id": item_id, "sub": sub, "kid": kid}
            outcome |= _revert_one(conn, seq, op, item_id, _load(before), _load(response))
            outcomes.append(outcome)
        conn.execute("COMMIT")
        return outcomes
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _revert_one(
    conn: sqlite3.Connection, seq: int, op: str, item_id: int, before: Any, response: Any
) -> dict[str, Any]:
    """Undo one forged write; returns {"changed", "action"} (and the fields restored)."""
    key = f"revert:{seq}"
    if conn.execute("SELECT 1 FROM writes WHERE idem_key = ?", (key,)).fetchone():
        return {"changed": False, "action": "already reverted"}
    current = _item(conn, item_id)
    if op == "create":
        if current is None:
            return {"changed": False, "action": "created item already gone"}
        conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
        _log(conn, key, "delete", item_id, current, {"reverted_seq": seq, "deleted": item_id})
        return {"changed": True, "action": "deleted the item it created"}
    if op == "delete":
        if current is not None or not isinstance(before, Mapping):
            return {"changed": False, "action": "item id taken again; not restored"}
        marks = ", ".join("?" for _ in ITEM_COLUMNS)
        conn.execute(
            f"INSERT INTO items ({', '.join(ITEM_COLUMNS)}) VALUES ({marks})",
            [before[name] for name in ITEM_COLUMNS],
        )
        _log(conn, key, "create", item_id, None, {"reverted_seq": seq, "item": dict(before)})
        return {"changed": True, "action": "put the deleted item back"}
    after = response.get("item") if isinstance(response, Mapping) else None
    if current is None or not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return {"changed": False, "action": "item gone since; nothing to restore"}
    fields = {
        name: before[name]
        for name in WRITABLE
        if before[name] != after.get(name) and current[name] == after.get(name)
    }
    if not fields:
        return {"changed": False, "action": "changed again since; left as it is"}
    assignments = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(f"UPDATE items SET {assignments} WHERE id = ?", [*fields.values(), item_id])
    _log(conn, key, "update", item_id, current, {"reverted_seq": seq, "fields": fields})
    return {"changed": True, "action": "restored fields", "fields": sorted(fields)}


def _item(conn: sqlite3.Connection, item_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE id = ?", (item_id,)
    ).fetchone()
    return None if row is None else dict(zip(ITEM_COLUMNS, row, strict=True))


def _log(conn: sqlite3.Connection, key: str, op: str, item_id: int, before: Any, body: Any) -> None:
    """Record the undo in the write log, like any write (next seq, actor, before-image)."""
    seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM writes").fetchone()[0]
    text = json.dumps(body | {"seq": seq}, separators=(",", ":"))
    fingerprint = hashlib.sha256(f"{key}:{op}:{item_id}".encode()).hexdigest()
    conn.execute(
        "INSERT INTO writes (seq, idem_key, fingerprint, op, item_id, actor_sub, actor_kid, "
        "actor_jti, t, status, response, before) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)",
        (
            seq,
            key,
            fingerprint,
            op,
            item_id,
            ACTOR,
            time.time(),
            200,
            text,
            None if before is None else json.dumps(before),
        ),
    )
