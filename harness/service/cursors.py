"""The keyset-pagination cursor of GET /api/items: (sort value, id) after which a page resumes.

A cursor is base64url (unpadded) of the JSON `[sort_token, value, id]`, where `sort_token` is
the `sort` parameter it was made for (`price`, `-name`). It is opaque to clients but not
signed, so whatever comes back is validated as strictly as any other input before it
reaches SQL: the token must equal the request's sort, `id` must be an int64 item id, and
`value` must have the sort field's type (an int64 integer, a finite number, or text of
bounded length that storage can keep: `harness.service.text`), so a forged cursor is a
`CursorError`, never a database error.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from harness.service.filters import FIELDS, Kind, Sort, Value
from harness.service.text import unstorable_text

MAX_CURSOR_CHARS = 4096
"""Longest cursor accepted; a real one holds one value of at most 200 characters."""
MAX_TEXT_CHARS = 1000
INT64_MAX = 2**63 - 1


class CursorError(ValueError):
    """A cursor this service did not issue, or issued for another sort."""


def sort_token(sort: Sort) -> str:
    """The `sort` parameter `sort` was parsed from (`price`, `-name`)."""
    return ("-" if sort.descending else "") + sort.field


def encode_cursor(sort: Sort, last: tuple[Value, int]) -> str:
    """An opaque cursor resuming after `last` = (sort value, id) in `sort` order."""
    raw = json.dumps([sort_token(sort), last[0], last[1]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, sort: Sort) -> tuple[Value, int]:
    """(sort value, id) from a cursor made for `sort`, or CursorError saying what is wrong."""
    if len(text) > MAX_CURSOR_CHARS:
        raise CursorError(f"cursor longer than {MAX_CURSOR_CHARS} characters")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise CursorError("cursor is not one this service issued") from None
    if not isinstance(decoded, list) or len(decoded) != 3:
        raise CursorError("cursor is not one this service issued")
    token, value, item_id = decoded
    expected = sort_token(sort)
    if token != expected:
        shown = token if isinstance(token, str) and len(token) <= 20 else "another sort"
        raise CursorError(f"cursor was issued for sort {shown!r}, not {expected!r}")
    if not _is_int64(item_id) or item_id < 1:
        raise CursorError("cursor id is not an item id")
    return _typed_value(sort.field, value), item_id


def _is_int64(value: Any) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and -INT64_MAX <= value <= INT64_MAX
    )


def _typed_value(field: str, value: Any) -> Value:
    kind = FIELDS[field]
    if kind is Kind.INT:
        if not _is_int64(value):
            raise CursorError(f"cursor value for {field} is not a 64-bit integer")
        return int(value)
    if kind is Kind.FLOAT:
        if _is_int64(value):
            return int(value)
        if isinstance(value, float) and math.isfinite(value):
            return value
        raise CursorError(f"cursor value for {field} is not a finite number")
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise CursorError(f"cursor value for {field} is not text")
    if unstorable_text(value) is not None:
        raise CursorError(f"cursor value for {field} holds a NUL or a lone surrogate")
    return value
