"""Items and their write log: the service's queries, over either backend's `Database`.

Every write runs in one transaction, shared with concurrent writers of the process (group
commit) and holding the database's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: a
transaction-scoped advisory lock): the idempotency-key check, the item change and the
`writes` row (global gap-free `seq`, actor, before-image, response) commit together or not
at all, and seq order is commit order.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.service import seed
from harness.service.storage.backend import Connection, Database
from harness.service.storage.dialect import DIALECTS, ITEM_COLUMNS
from harness.service.storage.errors import IdempotencyConflict, ItemNotFound

_COLUMNS = ", ".join(ITEM_COLUMNS)
_SELECT_ITEM = f"SELECT {_COLUMNS} FROM items"


@dataclass(frozen=True)
class Actor:
    """Who made a write, from the bearer token's claims."""

    sub: str | None = None
    kid: str | None = None
    jti: str | None = None


@dataclass(frozen=True)
class WriteResult:
    """A write's answer: status, JSON body text and seq; `replayed` when the key was seen."""

    status: int
    body: str
    seq: int
    replayed: bool = False


@dataclass(frozen=True)
class ItemPage:
    """A page of a listing: each item as JSON text, in order, and, when more items follow,
    the (sort value, id) of the last one, to resume after it."""

    items: list[str]
    next_key: tuple[Any, int] | None


def item_dict(row: Sequence[Any]) -> dict[str, Any]:
    """An items row as its JSON object."""
    return dict(zip(ITEM_COLUMNS, row, strict=True))


class Storage:
    """The service's queries over one Database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = DIALECTS[db.dialect]

    def _sql(self, text: str) -> str:
        return self.dialect.sql(text)

    def get_json(self, item_id: int) -> str | None:
        """One item as JSON text, or None."""
        with self.db.reading() as conn:
            row = conn.execute(self._sql(self.dialect.items_json("id = ?")), (item_id,)).fetchone()
        return None if row is None else str(row[0])

    def get(self, item_id: int) -> dict[str, Any] | None:
        """One item, or None."""
        with self.db.reading() as conn:
            row = conn.execute(self._sql(f"{_SELECT_ITEM} WHERE id = ?"), (item_id,)).fetchone()
        return None if row is None else item_dict(row)

    def get_many_json(self, ids: Sequence[int]) -> dict[int, str]:
        """The items among `ids` that exist, each as JSON text, by id."""
        with self.db.reading() as conn:
            rows = conn.execute(
                self._sql(self.dialect.items_json(self.dialect.in_list("id"), with_id=True)),
                (self.dialect.list_param(ids),),
            ).fetchall()
        return {row[0]: row[1] for row in rows}

    def list_items(
        self,
        where_sql: str,
        params: Sequence[Any],
        *,
        sort_field: str = "id",
        descending: bool = False,
        limit: int = 50,
        after: tuple[Any, int] | None = None,
        offset: int = 0,
    ) -> ItemPage:
        """Up to `limit` items matching `where_sql` (from filters.to_sql) in sort order, ties
        by id; `after` = (sort value, id) of the last item already seen (keyset pagination).

        SQLite renders each item's JSON and joins them in one string, which costs a fifth of
        fetching rows into dicts and encoding them here. `sort_field` must be a column name.
        """
        if sort_field not in ITEM_COLUMNS:
            raise ValueError(f"unknown sort field {sort_field!r}")
        direction, cmp = ("DESC", "<") if descending else ("ASC", ">")
        where = f"({where_sql})"
        args = list(params)
        if after is not None:
            if sort_field == "id":
                where += f" AND id {cmp} ?"
                args.append(after[1])
            else:
                where += f" AND ({sort_field} {cmp} ? OR ({sort_field} = ? AND id {cmp} ?))"
                args.extend((after[0], after[0], after[1]))
        order = "" if sort_field == "id" else f"{sort_field} {direction}, "
        tail = f"ORDER BY {order}id {direction} LIMIT ? OFFSET ?"
        args.extend((limit + 1, offset))
        inner = self.dialect.items_json(where, tail)
        texts = self._page_texts(inner, args)
        if len(texts) <= limit:
            return ItemPage(texts, None)
        del texts[limit:]
        last = json.loads(texts[-1])
        return ItemPage(texts, (last[sort_field], last["id"]))

    def _page_texts(self, inner: str, args: Sequence[Any]) -> list[str]:
        if self.dialect.name == "postgresql":
            with self.db.reading() as conn:
                return [row[0] for row in conn.execute(self._sql(inner), args).fetchall()]
        # The aggregate reads the ordered subquery in order; char(30) cannot occur in JSON
        # text (json_object escapes control characters), so it separates items safely.
        with self.db.reading() as conn:
            joined = conn.execute(f"SELECT group_concat(j, char(30)) FROM ({inner})", args)
            text = joined.fetchone()[0]
        return text.split("\x1e") if text else []

    def create(self, fields: Mapping[str, Any], key: str, actor: Actor) -> WriteResult:
        """Insert an item (201); created_at is set here."""

        def apply(conn: Connection, seq: int) -> tuple[int, int, dict[str, Any], None]:
            created_at = seed.format_time_now()
            values = [fields[name] for name in ITEM_COLUMNS[1:6]] + [created_at]
            row = conn.execute(
                self._sql(
                    "INSERT INTO items (name, category, price, quantity, status, created_at) "
                    f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}"
                ),
                values,
            ).fetchone()
            item = item_dict(row)
            return 201, item["id"], {"item": item, "seq": seq}, None

        return self._write("create", None, fields, key, actor, apply)

    def update(
        self, item_id: int, fields: Mapping[str, Any], key: str, actor: Actor
    ) -> WriteResult:
        """Change some fields of an item (200); ItemNotFound if it does not exist."""

        def apply(conn: Connection, seq: int) -> tuple[int, int, dict[str, Any], Any]:
            before = self._row(conn, item_id)
            assignments = ", ".join(f"{name} = ?" for name in fields if name in ITEM_COLUMNS)
            values = [*fields.values(), item_id]
            row = conn.execute(
                self._sql(f"UPDATE items SET {assignments} WHERE id = ? RETURNING {_COLUMNS}"),
                values,
            ).fetchone()
            return 200, item_id, {"item": item_dict(row), "seq": seq}, before

        unknown = set(fields) - set(ITEM_COLUMNS[1:6])
        if unknown or not fields:
            raise ValueError(f"cannot update fields {sorted(unknown) or 'none'}")
        return self._write("update", item_id, fields, key, actor, apply)

    def delete(self, item_id: int, key: str, actor: Actor) -> WriteResult:
        """Remove an item (200, body names it); ItemNotFound if it does not exist."""

        def apply(conn: Connection, seq: int) -> tuple[int, int, dict[str, Any], Any]:
            before = self._row(conn, item_id)
            conn.execute(self._sql("DELETE FROM items WHERE id = ?"), (item_id,))
            return 200, item_id, {"deleted": item_id, "seq": seq}, before

        return self._write("delete", item_id, {}, key, actor, apply)

    def lookup_writes(self, keys: Sequence[str]) -> dict[str, int]:
        """The seq of each key that was written, by any caller (the first write where
        several callers used one key); absent keys are left out. For read-back, which
        the service role does, across every caller's writes."""
        with self.db.reading() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT idem_key, MIN(seq) FROM writes "
                    f"WHERE {self.dialect.in_list('idem_key')} GROUP BY idem_key"
                ),
                (self.dialect.list_param(keys),),
            ).fetchall()
        return {key: seq for key, seq in rows}

    def audit(
        self, *, kid: str | None, sub: str | None, since_seq: int, limit: int
    ) -> list[dict[str, Any]]:
        """Writes after `since_seq`, oldest first, optionally by signing key or subject."""
        sql = (
            "SELECT seq, idem_key, op, item_id, actor_sub, actor_kid, actor_jti, t, status, "
            "before FROM writes WHERE seq > ?"
        )
        args: list[Any] = [since_seq]
        if kid is not None:
            sql += " AND actor_kid = ?"
            args.append(kid)
        if sub is not None:
            sql += " AND actor_sub = ?"
            args.append(sub)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self.db.reading() as conn:
            rows = conn.execute(self._sql(sql), args).fetchall()
        names = ("seq", "idempotency_key", "op", "item_id", "sub", "kid", "jti", "t", "status")
        out = []
        for row in rows:
            entry = dict(zip(names, row[:9], strict=True))
            entry["before"] = None if row[9] is None else json.loads(row[9])
            out.append(entry)
        return out

    def last_seq(self) -> int:
        """The highest write sequence number so far (0 before any write)."""
        with self.db.reading() as conn:
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM writes").fetchone()
        return int(row[0])

    def _row(self, conn: Connection, item_id: int) -> dict[str, Any]:
        row = conn.execute(self._sql(f"{_SELECT_ITEM} WHERE id = ?"), (item_id,)).fetchone()
        if row is None:
            raise ItemNotFound(item_id)
        return item_dict(row)

    def _write(
        self,
        op: str,
        item_id: int | None,
        fields: Mapping[str, Any],
        key: str,
        actor: Actor,
        apply: Callable[[Connection, int], tuple[int, int, dict[str, Any], Any]],
    ) -> WriteResult:
        fingerprint = _fingerprint(op, item_id, fields)
        # A key belongs to its caller (the token's sub): another caller's use of the same
        # key is a write of its own, and nothing in the answer tells that the key exists.
        scope = actor.sub or ""

        def work(conn: Connection) -> WriteResult:
            seen = conn.execute(
                self._sql(
                    "SELECT seq, fingerprint, status, response FROM writes "
                    "WHERE idem_scope = ? AND idem_key = ?"
                ),
                (scope, key),
            ).fetchone()
            if seen is not None:
                if seen[1] != fingerprint:
                    raise IdempotencyConflict(key, seen[0])
                return WriteResult(status=seen[2], body=seen[3], seq=seen[0], replayed=True)
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM writes").fetchone()[0]
            status, written_id, body, before = apply(conn, seq)
            text = json.dumps(body, separators=(",", ":"))
            conn.execute(
                self._sql(
                    "INSERT INTO writes (seq, idem_key, idem_scope, fingerprint, op, item_id, "
                    "actor_sub, actor_kid, actor_jti, t, status, response, before) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    seq, key, scope, fingerprint, op, written_id, actor.sub, actor.kid, actor.jti,
                    time.time(), status, text, None if before is None else json.dumps(before),
                ),
            )  # fmt: skip
            return WriteResult(status=status, body=text, seq=seq)

        return self.db.transact(work)


def _fingerprint(op: str, item_id: int | None, fields: Mapping[str, Any]) -> str:
    canonical = json.dumps([op, item_id, dict(fields)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
