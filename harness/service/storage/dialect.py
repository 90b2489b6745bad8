"""The SQL that differs between SQLite and PostgreSQL, in one place.

Queries are written once, with `?` placeholders; a `Dialect` supplies the few fragments
that differ (an item rendered as JSON text by the database, membership in a list passed as
one parameter, taking the write lock) and turns `?` into psycopg's `%s`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ITEM_COLUMNS = ("id", "name", "category", "price", "quantity", "status", "created_at")
_COLUMNS = ", ".join(ITEM_COLUMNS)
_SQLITE_ITEM_JSON = "json_object(" + ", ".join(f"'{name}', {name}" for name in ITEM_COLUMNS) + ")"


@dataclass(frozen=True)
class Dialect:
    """How one database spells what the queries need. `name` is "sqlite" or "postgresql"."""

    name: str

    def sql(self, text: str) -> str:
        """`text` with its `?` placeholders in this dialect's style."""
        return _to_format_style(text) if self.name == "postgresql" else text

    def items_json(self, where: str, tail: str = "", *, with_id: bool = False) -> str:
        """SELECT each item matching `where` as JSON text (preceded by its id if `with_id`);
        `tail` (ORDER BY / LIMIT) applies to the items before they are rendered."""
        if self.name == "postgresql":
            # row_to_json keeps the column order and writes no spaces, like json_object.
            inner = f"SELECT {_COLUMNS} FROM items WHERE {where} {tail}"
            lead = "t.id, " if with_id else ""
            return f"SELECT {lead}row_to_json(t)::text FROM ({inner}) t"
        lead = "id, " if with_id else ""
        return f"SELECT {lead}{_SQLITE_ITEM_JSON} AS j FROM items WHERE {where} {tail}"

    def in_list(self, column: str) -> str:
        """`column` is one of the values of a single list parameter (see `list_param`)."""
        if self.name == "postgresql":
            return f"{column} = ANY(?)"
        return f"{column} IN (SELECT value FROM json_each(?))"

    def list_param(self, values: Sequence[Any]) -> Any:
        """The parameter `in_list` expects for `values`."""
        return list(values) if self.name == "postgresql" else json.dumps(list(values))


SQLITE = Dialect("sqlite")
POSTGRESQL = Dialect("postgresql")
DIALECTS = {d.name: d for d in (SQLITE, POSTGRESQL)}


@functools.lru_cache(maxsize=512)
def _to_format_style(text: str) -> str:
    if "%" in text:  # psycopg would read it as a placeholder; values are parameters anyway
        raise ValueError(f"a literal % in SQL: {text!r}")
    return text.replace("?", "%s")
