"""The item filter language: text -> typed AST -> parameterized SQL.

Grammar (`filter` query parameter of GET /api/items)::

    filter    := condition (";" condition)*
    condition := field op value            (spaces allowed around each part)
    op        := "=" | "!=" | ">" | "<" | ">=" | "<="
               | "in" | "!in" | "like" | "!like" | "starts" | "ends"   (words: space-separated)
    value     := quoted | bare             (bare runs to the next ";", trimmed)
    list      := "(" item ("," item)* ")"  (for in / !in; an item is quoted or bare)
    quoted    := '"' ... '"'               (\\" is a quote, \\\\ a backslash)

Values are typed by field: price is a number, quantity and id integers, status one of
active|pending|archived, created_at an ISO 8601 text compared as text. `like` takes `%` and
`_` wildcards with `\\` as escape; `starts`/`ends` match literal text. Like SQL's LIKE, the
three are case-insensitive for ASCII letters. Values only ever reach SQL as bound parameters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from enum import Enum
from typing import Any

from harness.service.text import unstorable_text

Value = int | float | str


class Kind(Enum):
    """How a field's values are parsed and which operators apply."""

    INT = "integer"
    FLOAT = "number"
    TEXT = "text"
    STATUS = "status"
    TIMESTAMP = "ISO 8601 timestamp"


FIELDS: dict[str, Kind] = {
    "id": Kind.INT,
    "name": Kind.TEXT,
    "category": Kind.TEXT,
    "price": Kind.FLOAT,
    "quantity": Kind.INT,
    "status": Kind.STATUS,
    "created_at": Kind.TIMESTAMP,
}
STATUSES = ("active", "pending", "archived")
COMPARISONS = ("=", "!=", ">", "<", ">=", "<=")
WORD_OPERATORS = ("in", "!in", "like", "!like", "starts", "ends")
OPERATORS = COMPARISONS + WORD_OPERATORS
TEXT_OPERATORS = ("like", "!like", "starts", "ends")
_TEXT_KINDS = (Kind.TEXT, Kind.STATUS, Kind.TIMESTAMP)

MAX_FILTER_CHARS = 4000
MAX_CONDITIONS = 32
MAX_LIST_ITEMS = 500
_INT64 = 2**63

_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_RE = re.compile(r"!?[A-Za-z]+")
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_LIST_ITEM_RE = re.compile(r"[^,)]*")


class FilterError(ValueError):
    """A filter that cannot be parsed or typed; `position` is the 0-based offset of the fault."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class SortError(ValueError):
    """A `sort` parameter that names no known field."""


@dataclass(frozen=True)
class Condition:
    """One `field op value` test; `value` is a tuple for in/!in, else a single typed value."""

    field: str
    op: str
    value: Value | tuple[Value, ...]
    position: int = dataclass_field(default=0, compare=False)


@dataclass(frozen=True)
class Filter:
    """Conditions that must all hold (joined by `;`)."""

    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Sort:
    """Order of a listing: a known field, ascending or descending; ties broken by id."""

    field: str = "id"
    descending: bool = False


def parse_sort(text: str | None) -> Sort:
    """Parse `field` or `-field`; None or empty means by id ascending."""
    if not text:
        return Sort()
    descending = text.startswith("-")
    name = text[1:] if descending else text
    if name not in FIELDS:
        raise SortError(f"cannot sort by {name!r}; sortable fields: {', '.join(FIELDS)}")
    return Sort(name, descending)


def parse_filter(text: str) -> Filter:
    """Parse filter text into a typed AST, or raise FilterError naming the position."""
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"filter longer than {MAX_FILTER_CHARS} characters", MAX_FILTER_CHARS)
    if not text.strip():
        return Filter()
    # Neither could match a stored value, and one would fail in storage (harness.service.text).
    unstorable = unstorable_text(text)
    if unstorable is not None:
        raise FilterError(unstorable[1], unstorable[0])
    parser = _Parser(text)
    conditions = [parser.condition()]
    while parser.pos < len(text):
        parser.expect_separator()
        if len(conditions) >= MAX_CONDITIONS:
            raise FilterError(f"more than {MAX_CONDITIONS} conditions", parser.pos)
        conditions.append(parser.condition())
    return Filter(tuple(conditions))


class _Parser:
    """A cursor over the filter text; each method consumes one part of the grammar."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def expect_separator(self) -> None:
        self.skip_spaces()
        if self.pos >= len(self.text):
            return
        if self.text[self.pos] != ";":
            raise FilterError(
                f"expected ';' or end of filter, found {self.text[self.pos]!r}", self.pos
            )
        self.pos += 1

    def condition(self) -> Condition:
        self.skip_spaces()
        start = self.pos
        match = _FIELD_RE.match(self.text, self.pos)
        if match is None:
            what = "end of filter" if self.pos >= len(self.text) else repr(self.text[self.pos])
            raise FilterError(f"expected a field name, found {what}", self.pos)
        name = match.group()
        if name not in FIELDS:
            known = ", ".join(FIELDS)
            raise FilterError(f"unknown field {name!r}; known fields: {known}", start)
        self.pos = match.end()
        self.skip_spaces()
        op_pos = self.pos
        op = self.operator()
        _check_operator(name, op, op_pos)
        self.skip_spaces()
        value_pos = self.pos
        if op in ("in", "!in"):
            raws = self.value_list()
            value: Value | tuple[Value, ...] = tuple(
                _typed(name, op, raw, pos) for raw, pos in raws
            )
        else:
            raw = self.single_value()
            value = _typed(name, op, raw, value_pos)
        self.skip_spaces()
        if self.pos < len(self.text) and self.text[self.pos] != ";":
            raise FilterError(
                f"expected ';' or end of filter, found {self.text[self.pos]!r}", self.pos
            )
        return Condition(name, op, value, start)

    def operator(self) -> str:
        text, pos = self.text, self.pos
        for symbol in ("!=", ">=", "<=", "=", ">", "<"):
            if text.startswith(symbol, pos):
                self.pos += len(symbol)
                return symbol
        match = _WORD_RE.match(text, pos)
        word = match.group().lower() if match else ""
        if word not in WORD_OPERATORS:
            found = repr(match.group()) if match else _describe(text, pos)
            raise FilterError(f"expected an operator ({' '.join(OPERATORS)}), found {found}", pos)
        assert match is not None
        self.pos = match.end()
        if self.pos < len(text) and not (text[self.pos].isspace() or text[self.pos] in '("'):
            raise FilterError(f"expected a space after operator {word!r}", self.pos)
        return word

    def single_value(self) -> str:
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            return self.quoted()
        end = self.text.find(";", self.pos)
        end = len(self.text) if end < 0 else end
        raw = self.text[self.pos : end].rstrip()
        if not raw:
            raise FilterError("expected a value", self.pos)
        self.pos += len(raw)
        return raw

    def value_list(self) -> list[tuple[str, int]]:
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise FilterError(
                f"expected '(' to start a list, found {_describe(self.text, self.pos)}", self.pos
            )
        self.pos += 1
        items: list[tuple[str, int]] = []
        while True:
            self.skip_spaces()
            item_pos = self.pos
            if self.pos < len(self.text) and self.text[self.pos] == '"':
                items.append((self.quoted(), item_pos))
            else:
                match = _LIST_ITEM_RE.match(self.text, self.pos)
                raw = match.group().rstrip() if match else ""
                if not raw:
                    raise FilterError("expected a list item", item_pos)
                self.pos += len(raw)
                items.append((raw, item_pos))
            if len(items) > MAX_LIST_ITEMS:
                raise FilterError(f"more than {MAX_LIST_ITEMS} items in a list", item_pos)
            self.skip_spaces()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
                continue
            if self.pos < len(self.text) and self.text[self.pos] == ")":
                self.pos += 1
                return items
            raise FilterError(
                f"expected ',' or ')' in list, found {_describe(self.text, self.pos)}", self.pos
            )

    def quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\" and self.pos + 1 < len(text) and text[self.pos + 1] in '"\\':
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            out.append(char)
            self.pos += 1
        raise FilterError("unterminated quoted value", start)


def _describe(text: str, pos: int) -> str:
    return "end of filter" if pos >= len(text) else repr(text[pos])


def _check_operator(name: str, op: str, position: int) -> None:
    kind = FIELDS[name]
    if op in TEXT_OPERATORS and kind not in _TEXT_KINDS:
        raise FilterError(
            f"operator {op!r} applies to text fields, not {name} (a {kind.value})", position
        )
    if kind is Kind.STATUS and op in (">", "<", ">=", "<="):
        raise FilterError(f"operator {op!r} does not apply to status", position)


def _typed(name: str, op: str, raw: str, position: int) -> Value:
    """Convert one raw value to the field's type, or raise FilterError at `position`."""
    kind = FIELDS[name]
    if op in TEXT_OPERATORS:
        if op in ("like", "!like") and _ends_with_lone_escape(raw):
            raise FilterError(f"{op} pattern ends with an unfinished '\\' escape", position)
        return raw
    if kind is Kind.INT:
        if not _INT_RE.fullmatch(raw) or not -_INT64 <= int(raw) < _INT64:
            raise FilterError(f"{name} expects an integer, got {raw!r}", position)
        return int(raw)
    if kind is Kind.FLOAT:
        number = float(raw) if _FLOAT_RE.fullmatch(raw) else math.nan
        if not math.isfinite(number):
            raise FilterError(f"{name} expects a number, got {raw!r}", position)
        return number
    if kind is Kind.STATUS and raw not in STATUSES:
        raise FilterError(f"status expects one of {', '.join(STATUSES)}, got {raw!r}", position)
    if kind is Kind.TIMESTAMP:
        try:
            datetime.fromisoformat(raw)
        except ValueError:
            raise FilterError(
                f"created_at expects an ISO 8601 date or time, got {raw!r}", position
            ) from None
    return raw


def _ends_with_lone_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def escape_like(text: str) -> str:
    """Escape `text` for a LIKE pattern with ESCAPE '\\', so it matches only itself."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SQL_COMPARISON = {"=": "=", "!=": "<>", ">": ">", "<": "<", ">=": ">=", "<=": "<="}


def to_sql(spec: Filter, dialect: str = "sqlite") -> tuple[str, list[Any]]:
    """A WHERE expression (without `WHERE`) and its parameters, with `?` placeholders, for
    `dialect` ("sqlite" or "postgresql"); always true for an empty filter.

    Column names come only from FIELDS; every value is a bound parameter. PostgreSQL gets a
    list as one array parameter (`= ANY(?)`, so one statement shape per filter whatever the
    list's length) and ILIKE, because SQLite's LIKE ignores ASCII case (the columns are
    COLLATE "C" there, under which ILIKE folds ASCII letters only, as SQLite does).
    """
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    postgres = dialect == "postgresql"
    clauses: list[str] = []
    params: list[Any] = []
    for cond in spec.conditions:
        column = cond.field
        if column not in FIELDS:  # parse_filter guarantees this; a hand-built AST may not
            raise FilterError(f"unknown field {column!r}", cond.position)
        if cond.op in _SQL_COMPARISON:
            clauses.append(f"{column} {_SQL_COMPARISON[cond.op]} ?")
            params.append(_scalar(cond))
        elif cond.op in ("in", "!in"):
            values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
            if postgres:
                clauses.append(f"{column} = ANY(?)" if cond.op == "in" else f"{column} <> ALL(?)")
                params.append(list(values))
                continue
            marks = ",".join("?" * len(values))
            negation = "NOT " if cond.op == "!in" else ""
            clauses.append(f"{column} {negation}IN ({marks})")
            params.extend(values)
        else:
            pattern = str(_scalar(cond))
            negation = "NOT " if cond.op == "!like" else ""
            if cond.op == "starts":
                pattern = escape_like(pattern) + "%"
            elif cond.op == "ends":
                pattern = "%" + escape_like(pattern)
            like = "ILIKE" if postgres else "LIKE"
            clauses.append(f"{column} {negation}{like} ? ESCAPE '\\'")
            params.append(pattern)
    if not clauses:
        return ("TRUE" if postgres else "1"), params
    return " AND ".join(f"({clause})" for clause in clauses), params


def _scalar(cond: Condition) -> Value:
    if isinstance(cond.value, tuple):
        raise FilterError(f"operator {cond.op!r} takes one value, not a list", cond.position)
    return cond.value


def render_filter(spec: Filter) -> str:
    """Canonical text for a filter: parse_filter(render_filter(f)) == f."""
    return ";".join(_render_condition(cond) for cond in spec.conditions)


def _render_condition(cond: Condition) -> str:
    if isinstance(cond.value, tuple):
        items = ",".join(_render_value(value) for value in cond.value)
        return f"{cond.field} {cond.op} ({items})"
    return f"{cond.field} {cond.op} {_render_value(cond.value)}"


def _render_value(value: Value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
