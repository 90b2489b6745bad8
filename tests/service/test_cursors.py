"""The pagination cursor codec: what it encodes decodes to the same thing, and anything else
is a CursorError, never another exception (checked by hypothesis)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.service.cursors import (
    INT64_MAX,
    MAX_TEXT_CHARS,
    CursorError,
    decode_cursor,
    encode_cursor,
)
from harness.service.filters import FIELDS, Kind, Sort

_IDS = st.integers(1, INT64_MAX)
# A stored value never holds a NUL or a lone surrogate (the service refuses both on input),
# so a cursor is only ever made from text without them.
_UNICODE = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=MAX_TEXT_CHARS
)
_VALUES: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.INT: st.integers(-INT64_MAX, INT64_MAX),
    Kind.FLOAT: st.floats(allow_nan=False, allow_infinity=False) | st.integers(0, 10**9),
    Kind.TEXT: _UNICODE,
    Kind.STATUS: st.sampled_from(["active", "pending", "archived"]),
    Kind.TIMESTAMP: st.sampled_from(["2024-01-01T00:00:00+00:00", "2025-06-30T12:00:00Z"]),
}
_SORTS = st.builds(Sort, st.sampled_from(sorted(FIELDS)), st.booleans())


@st.composite
def sort_and_key(draw: st.DrawFn) -> tuple[Sort, tuple[Any, int]]:
    sort = draw(_SORTS)
    return sort, (draw(_VALUES[FIELDS[sort.field]]), draw(_IDS))


@settings(max_examples=300, deadline=None)
@given(case=sort_and_key())
def test_a_cursor_decodes_to_what_was_encoded(case: tuple[Sort, tuple[Any, int]]) -> None:
    sort, last = case
    cursor = encode_cursor(sort, last)
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(cursor, sort) == last


@settings(max_examples=100, deadline=None)
@given(case=sort_and_key(), other=_SORTS)
def test_a_cursor_is_refused_for_another_sort(
    case: tuple[Sort, tuple[Any, int]], other: Sort
) -> None:
    sort, last = case
    if other != sort:
        with pytest.raises(CursorError, match="issued for sort"):
            decode_cursor(encode_cursor(sort, last), other)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.sampled_from(["price", "-name", "id", "\ud800"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_FORGED = (
    st.text(max_size=40)
    | st.binary(max_size=60).map(_b64)
    | _JSON.map(lambda v: _b64(json.dumps(v).encode()))
    | st.tuples(_SORTS.map(lambda s: ("-" if s.descending else "") + s.field), _JSON, _JSON).map(
        lambda t: _b64(json.dumps(list(t)).encode())
    )
)


@settings(max_examples=400, deadline=None)
@given(text=_FORGED, sort=_SORTS)
def test_any_text_decodes_to_a_well_typed_key_or_is_refused(text: str, sort: Sort) -> None:
    try:
        value, item_id = decode_cursor(text, sort)
    except CursorError as exc:
        assert str(exc)
        return
    assert type(item_id) is int and 1 <= item_id <= INT64_MAX
    kind = FIELDS[sort.field]
    if kind is Kind.INT:
        assert type(value) is int and abs(value) <= INT64_MAX
    elif kind is Kind.FLOAT:
        assert type(value) in (int, float) and abs(value) < float("inf")
    else:
        assert isinstance(value, str)
        value.encode("utf-8")  # no lone surrogate


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 1500 + "]" * 1500,  # under the length limit, over the parser's depth
        '["id",1,' + "9" * 30 + "]",
        '["price",' + "1" + "0" * 400 + ",5]",
        '["price",NaN,5]',
        '["price",Infinity,5]',
    ],
)
def test_hostile_cursors_are_refused(raw: str) -> None:
    sort = Sort("id") if raw.startswith('["id"') else Sort("price")
    with pytest.raises(CursorError):
        decode_cursor(_b64(raw.encode()), sort)


def test_an_overlong_cursor_is_refused_before_decoding() -> None:
    with pytest.raises(CursorError, match="longer than"):
        decode_cursor("A" * 5000, Sort())
