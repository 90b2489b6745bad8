"""What a statement filters and sorts on: the columns an index could serve.

A deliberately small reading of SQL text (no parser): the columns of a table that appear
as `column <op> ...` (`=`, `!=`, `<`, `>=`, `IN`, `LIKE`, `= ANY`...) and after `ORDER BY`.
It only proposes candidates; whether an index on them helps is measured, never assumed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

_PREDICATE = re.compile(
    r"(?<![\w.'\"])(?:\w+\.)?\"?(\w+)\"?\s*"
    r"(=\s*ANY\b|=|!=|<>|<=|>=|<|>|\bNOT\s+IN\b|\bIN\b|\bNOT\s+I?LIKE\b|\bI?LIKE\b|\bBETWEEN\b)",
    re.IGNORECASE,
)
_ORDER_BY = re.compile(r"\bORDER\s+BY\s+(.+?)(?=\bLIMIT\b|\bOFFSET\b|\)|$)", re.I | re.S)
_EQUALITY = ("=", "IN", "= ANY")


@dataclass(frozen=True)
class ColumnUse:
    """The columns of one table a statement filters on (equality apart) and sorts by."""

    equality: tuple[str, ...]
    ranges: tuple[str, ...]
    order_by: tuple[str, ...]

    @property
    def filtered(self) -> tuple[str, ...]:
        """Every filtered column, equality first."""
        return self.equality + tuple(c for c in self.ranges if c not in self.equality)


def column_use(sql: str, columns: Collection[str]) -> ColumnUse:
    """Which of `columns` (one table's) `sql` filters and sorts on, in order of appearance."""
    known = {c.lower(): c for c in columns}
    equality: list[str] = []
    ranges: list[str] = []
    where_at = re.search(r"\bWHERE\b", sql, re.I)
    body = sql[where_at.start() :] if where_at else ""
    for match in _PREDICATE.finditer(body):
        name = known.get(match.group(1).lower())
        if name is None:
            continue
        op = " ".join(match.group(2).upper().split())
        target = equality if op in _EQUALITY else ranges
        if name not in target:
            target.append(name)
    order: list[str] = []
    for found in _ORDER_BY.finditer(sql):
        for part in found.group(1).split(","):
            words = part.strip().split()
            name = known.get(words[0].strip('"').split(".")[-1].lower()) if words else None
            if name is not None and name not in order:
                order.append(name)
    return ColumnUse(tuple(equality), tuple(ranges), tuple(order))


def candidate_indexes(
    use: ColumnUse, indexed_first: Collection[str], sorted_scan: bool, limit: int = 3
) -> list[tuple[str, ...]]:
    """Column lists worth an index: each filtered column that leads no existing index
    (`indexed_first`), and (equality columns + the sort column) when the plan sorts."""
    out: list[tuple[str, ...]] = []
    for column in use.filtered:
        if column not in indexed_first:
            out.append((column,))
    if sorted_scan and use.order_by:
        lead = tuple(c for c in use.equality if c != use.order_by[0])
        combined = (*lead, use.order_by[0])
        if not (len(combined) == 1 and combined[0] in indexed_first):
            out.append(combined)
    unique: list[tuple[str, ...]] = []
    for columns in out:
        if columns not in unique:
            unique.append(columns)
    return unique[:limit]


def not_covered(
    candidates: Sequence[tuple[str, ...]], existing: Collection[tuple[str, ...]]
) -> list[tuple[str, ...]]:
    """The candidates no existing index already starts with (same columns, same order)."""
    return [c for c in candidates if not any(e[: len(c)] == c for e in existing)]


def index_name(table: str, columns: Sequence[str]) -> str:
    """A readable name for an index of ours: `<table>_<col>_<col>_idx`."""
    return "_".join((table, *columns, "idx"))[:60]
