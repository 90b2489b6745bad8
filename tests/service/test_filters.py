"""The filter language: parsing, typing, errors with positions, and SQL that means what a
plain-Python reading of the filter means (checked by hypothesis against SQLite)."""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.service.filters import (
    OPERATORS,
    Condition,
    Filter,
    FilterError,
    SortError,
    escape_like,
    parse_filter,
    parse_sort,
    render_filter,
    to_sql,
)
from harness.service.storage import ITEM_COLUMNS, SCHEMA


def _db(rows: list[dict[str, Any]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    conn.executemany(
        f"INSERT INTO items ({', '.join(ITEM_COLUMNS)}) VALUES ({', '.join('?' * 7)})",
        [tuple(row[c] for c in ITEM_COLUMNS) for row in rows],
    )
    return conn


def _select_ids(conn: sqlite3.Connection, text: str) -> set[int]:
    where, params = to_sql(parse_filter(text))
    return {row[0] for row in conn.execute(f"SELECT id FROM items WHERE {where}", params)}


ROWS = [
    {"id": 1, "name": "Blue Widget", "category": "tools", "price": 9.5, "quantity": 3,
     "status": "active", "created_at": "2024-01-01T00:00:00+00:00"},
    {"id": 2, "name": "Blue Whale", "category": "toys", "price": 10.0, "quantity": 0,
     "status": "pending", "created_at": "2024-02-01T00:00:00+00:00"},
    {"id": 3, "name": "50%_off", "category": "garden", "price": 120.25, "quantity": 7,
     "status": "archived", "created_at": "2024-03-01T12:00:00+00:00"},
    {"id": 4, "name": "' OR 1=1 --", "category": "tools", "price": 0.5, "quantity": 12,
     "status": "active", "created_at": "2024-03-02T00:00:00+00:00"},
]  # fmt: skip


@pytest.fixture()
def conn() -> sqlite3.Connection:
    return _db(ROWS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("category=tools", {1, 4}),
        ("category!=tools", {2, 3}),
        ("price>10", {3}),
        ("price<10", {1, 4}),
        ("price>=10", {2, 3}),
        ("price<=10", {1, 2, 4}),
        ("status in (active,pending)", {1, 2, 4}),
        ("status !in (active, pending)", {3}),
        ("name like blue%", {1, 2}),
        ("name !like %W_dget", {2, 3, 4}),
        ('name starts "Blue W"', {1, 2}),
        ("name ends _off", {3}),
    ],
)
def test_each_of_the_twelve_operators(
    conn: sqlite3.Connection, text: str, expected: set[int]
) -> None:
    assert _select_ids(conn, text) == expected


def test_the_operator_list_is_the_twelve() -> None:
    assert OPERATORS == ("=", "!=", ">", "<", ">=", "<=", "in", "!in", "like", "!like",
                         "starts", "ends")  # fmt: skip


def test_conditions_are_joined_with_and(conn: sqlite3.Connection) -> None:
    assert _select_ids(conn, "price>=10;status in (active,pending)") == {2}
    assert _select_ids(conn, 'name starts "Blue W";category!=tools') == {2}


def test_parse_gives_a_typed_ast() -> None:
    parsed = parse_filter("price >= 10 ; quantity in (1, 2) ; created_at<2024-03-01")
    assert parsed == Filter(
        (
            Condition("price", ">=", 10.0),
            Condition("quantity", "in", (1, 2)),
            Condition("created_at", "<", "2024-03-01"),
        )
    )
    assert isinstance(parsed.conditions[0].value, float)
    assert [c.position for c in parsed.conditions] == [0, 14, 35]


def test_values_reach_sql_only_as_parameters() -> None:
    where, params = to_sql(parse_filter('name=\' OR 1=1 --;category in ("a",b)'))
    assert "OR 1=1" not in where
    assert params == ["' OR 1=1 --", "a", "b"]


def test_injection_strings_are_data(conn: sqlite3.Connection) -> None:
    assert _select_ids(conn, "name=' OR 1=1 --") == {4}
    assert _select_ids(conn, 'name="x\\" OR \\"1\\"=\\"1"') == set()
    assert _select_ids(conn, 'category="tools\'; DROP TABLE items; --"') == set()
    with pytest.raises(FilterError, match="unknown field 'DROP'"):
        parse_filter("category=tools'; DROP TABLE items; --")
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 4


def test_starts_and_ends_match_wildcards_literally(conn: sqlite3.Connection) -> None:
    assert _select_ids(conn, "name starts 50%_") == {3}
    assert _select_ids(conn, "name starts 5%") == set()
    assert _select_ids(conn, "name ends %") == set()
    assert escape_like("a%b_c\\") == "a\\%b\\_c\\\\"


def test_like_escapes_with_backslash(conn: sqlite3.Connection) -> None:
    assert _select_ids(conn, 'name like "50\\%\\_off"') == {3}
    assert _select_ids(conn, "name like 50\\%x%") == set()


def test_quoted_values_keep_semicolons_and_quotes() -> None:
    parsed = parse_filter('name="a;b \\"c\\"";category=x')
    assert parsed.conditions[0].value == 'a;b "c"'
    assert parsed.conditions[1].value == "x"


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("colour=red", 0, "unknown field 'colour'"),
        ("price", 5, "expected an operator"),
        ("price ~ 3", 6, "expected an operator"),
        ("price>=", 7, "expected a value"),
        ("price>=abc", 7, "price expects a number"),
        ("price>=nan", 7, "price expects a number"),
        ("quantity=1.5", 9, "quantity expects an integer"),
        ("id>x", 3, "id expects an integer"),
        ("status=gone", 7, "status expects one of"),
        ("status>active", 6, "does not apply to status"),
        ("price like 1%", 6, "applies to text fields"),
        ("created_at>=yesterday", 12, "ISO 8601"),
        ('name="open', 5, "unterminated"),
        ('name="a" b', 9, "expected ';'"),
        ("status in active", 10, "expected '('"),
        ("status in (active", 17, "expected ',' or ')'"),
        ("status in ()", 11, "expected a list item"),
        ("price>1;", 8, "expected a field name"),
        ("price>1;;x=1", 8, "expected a field name"),
        ("name startsBlue", 5, "expected an operator"),
        ("name like%x", 9, "expected a space"),
        ("name like ab\\", 10, "unfinished"),
    ],
)
def test_malformed_filters_name_the_problem_and_position(
    text: str, position: int, fragment: str
) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert caught.value.position == position
    assert fragment in caught.value.message


def test_empty_filter_matches_everything(conn: sqlite3.Connection) -> None:
    assert parse_filter("  ") == Filter()
    assert _select_ids(conn, "") == {1, 2, 3, 4}


def test_sort_accepts_only_known_fields() -> None:
    assert parse_sort("-price").descending
    assert parse_sort(None).field == "id"
    with pytest.raises(SortError):
        parse_sort("price; DROP TABLE items")


# -- property: the SQL selects exactly the rows a plain-Python predicate accepts ----------

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _like(value: str, pattern: str) -> bool:
    """SQL LIKE with ESCAPE '\\': % any run, _ one character, ASCII case-insensitive."""
    parts, i = [], 0
    pattern = pattern.translate(_ASCII_LOWER)
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.fullmatch("".join(parts), value.translate(_ASCII_LOWER), re.DOTALL) is not None


_PREDICATES: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "!in": lambda a, b: a not in b,
    "like": _like,
    "!like": lambda a, b: not _like(a, b),
    "starts": lambda a, b: a.translate(_ASCII_LOWER).startswith(b.translate(_ASCII_LOWER)),
    "ends": lambda a, b: a.translate(_ASCII_LOWER).endswith(b.translate(_ASCII_LOWER)),
}


def _holds(row: dict[str, Any], spec: Filter) -> bool:
    return all(_PREDICATES[c.op](row[c.field], c.value) for c in spec.conditions)


_TEXT = st.text(alphabet='abAB %_\\";é,()x', max_size=6)
_NAMES = st.sampled_from(["Blue Widget", "blue", "a%b", "a_b", "x\\y", 'q"t', "é", ""]) | _TEXT
_PRICES = st.sampled_from([0.0, 0.5, 9.99, 10.0, 250.0]) | st.floats(0, 500, allow_nan=False)
_QUANTITIES = st.integers(0, 5) | st.integers(-(2**40), 2**40)
_STATUSES = st.sampled_from(["active", "pending", "archived"])
_TIMES = st.sampled_from(
    ["2024-01-01T00:00:00+00:00", "2024-01-01", "2024-06-30T12:30:00+00:00", "2025-01-01"]
)
_LIKE_PATTERNS = _TEXT.filter(lambda p: (len(p) - len(p.rstrip("\\"))) % 2 == 0)
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.integers(0, 12),
    "name": _NAMES,
    "category": _NAMES,
    "price": _PRICES,
    "quantity": _QUANTITIES,
    "status": _STATUSES,
    "created_at": _TIMES,
}
_TEXT_FIELDS = ("name", "category", "created_at", "status")


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    field = draw(st.sampled_from(list(_VALUES)))
    ops = ["=", "!=", "in", "!in"]
    if field != "status":
        ops += [">", "<", ">=", "<="]
    if field in _TEXT_FIELDS:
        ops += ["like", "!like", "starts", "ends"]
    op = draw(st.sampled_from(ops))
    if op in ("in", "!in"):
        return Condition(field, op, tuple(draw(st.lists(_VALUES[field], min_size=1, max_size=4))))
    if op in ("like", "!like"):
        return Condition(field, op, draw(_LIKE_PATTERNS))
    if op in ("starts", "ends"):
        return Condition(field, op, draw(_TEXT))
    return Condition(field, op, draw(_VALUES[field]))


@st.composite
def item_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 12))
    return [
        {
            "id": item_id,
            "name": draw(_NAMES),
            "category": draw(_NAMES),
            "price": draw(_PRICES),
            "quantity": draw(_QUANTITIES),
            "status": draw(_STATUSES),
            "created_at": draw(_TIMES),
        }
        for item_id in range(1, count + 1)
    ]


@settings(max_examples=200, deadline=None)
@given(rows=item_rows(), spec=st.lists(conditions(), min_size=1, max_size=3).map(tuple))
def test_sql_selects_what_the_python_predicate_accepts(
    rows: list[dict[str, Any]], spec: tuple[Condition, ...]
) -> None:
    filter_ = Filter(spec)
    text = render_filter(filter_)
    assert parse_filter(text) == filter_  # the text form round-trips
    conn = _db(rows)
    expected = {row["id"] for row in rows if _holds(row, filter_)}
    assert _select_ids(conn, text) == expected


# -- property: any text parses to SQL SQLite runs, or fails with a position inside it -----

_VALUE_PIECES = st.sampled_from(
    [
        *(" ", ";", '"', "\\", "(", ")", ",", "%", "_", "1", "-2", "1.5", "1e999", "nan", "2**70"),
        *("active", "2024-01-01", "9223372036854775808", "é", "\ud800", "\udfff", "\x00", "\n"),
    ]
)
_VALUE_TEXT = st.lists(_VALUE_PIECES | st.text(max_size=2), max_size=5).map("".join)
_VALUE = (
    _VALUE_TEXT
    | _VALUE_TEXT.map(lambda v: '"' + v + '"')
    | st.lists(_VALUE_TEXT, min_size=1, max_size=3).map(lambda vs: "(" + ",".join(vs) + ")")
)
_CONDITION = st.builds(
    "{} {} {}".format,
    st.sampled_from(["name", "price", "quantity", "id", "status", "created_at", "colour"]),
    st.sampled_from(OPERATORS),
    _VALUE,
)
_WELL_FORMED = conditions().map(lambda c: render_filter(Filter((c,)))) | st.builds(
    lambda field, op, value: render_filter(Filter((Condition(field, op, value),))),
    st.sampled_from(["name", "category"]),
    st.sampled_from(["=", "!=", "<", "like", "starts", "ends"]),
    st.text(max_size=8).filter(lambda p: (len(p) - len(p.rstrip("\\"))) % 2 == 0),
)
_FILTER_TEXT = st.builds(
    "{}{}".format,
    st.lists(_CONDITION | _WELL_FORMED, min_size=1, max_size=3).map(";".join),
    st.sampled_from(["", "", "", ";", " x"]) | st.text(max_size=3),
)


_SHARED_ROWS = functools.cache(lambda: _db(ROWS))  # read only: one database for every example


@settings(max_examples=150, deadline=None)
@given(text=_FILTER_TEXT)
def test_any_text_parses_to_sql_that_runs_or_fails_at_a_position(text: str) -> None:
    try:
        spec = parse_filter(text)
    except FilterError as exc:
        assert 0 <= exc.position <= len(text)
        assert exc.message
        return
    where, params = to_sql(spec)
    assert where.count("?") == len(params)
    _SHARED_ROWS().execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()
