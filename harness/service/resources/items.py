"""/api/items: list with filter/sort/pagination, get one, bulk get, and idempotent writes."""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import falcon

from harness.service import filters
from harness.service.cursors import CursorError, decode_cursor, encode_cursor
from harness.service.filters import FilterError, SortError
from harness.service.metrics import Metrics
from harness.service.resources.common import (
    ApiError,
    bad_request,
    int_param,
    invalid_field,
    read_json_object,
)
from harness.service.storage import (
    Actor,
    IdempotencyConflict,
    ItemNotFound,
    Storage,
    WriteResult,
)

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000
MAX_BULK_IDS = 500
MAX_IDEMPOTENCY_KEY_CHARS = 200
_TEXT_LIMITS = {"name": 200, "category": 100}
WRITABLE_FIELDS = ("name", "category", "price", "quantity", "status")


def validate_item_fields(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """The writable fields of an item body, typed; a 400 naming the first bad field."""
    for name in body:
        if name not in WRITABLE_FIELDS:
            raise invalid_field(name, f"unknown field; writable: {', '.join(WRITABLE_FIELDS)}")
    if partial and not body:
        raise bad_request("invalid_json", "expected at least one field to change")
    fields: dict[str, Any] = {}
    for name in WRITABLE_FIELDS:
        if name not in body:
            if name == "status" and not partial:
                fields[name] = "active"
            elif not partial:
                raise invalid_field(name, "required")
            continue
        fields[name] = _typed_field(name, body[name])
    return fields


def _typed_field(name: str, value: Any) -> Any:
    if name in _TEXT_LIMITS:
        if not isinstance(value, str) or not 1 <= len(value) <= _TEXT_LIMITS[name]:
            raise invalid_field(name, f"expected a string of 1..{_TEXT_LIMITS[name]} characters")
        return value
    if name == "price":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_field(name, f"expected a number, got {type(value).__name__}")
        if not math.isfinite(value) or not 0 <= value <= 1e9:
            raise invalid_field(name, "expected a number in 0..1e9")
        # Kept to 15 significant digits, the precision SQLite's JSON renders it with, so a
        # write's answer and every later read show the same number.
        return float(f"{value:.15g}")
    if name == "quantity":
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_field(name, f"expected an integer, got {type(value).__name__}")
        if not 0 <= value <= 1_000_000_000:
            raise invalid_field(name, "expected an integer in 0..1000000000")
        return value
    if value not in filters.STATUSES:
        raise invalid_field(name, f"expected one of {', '.join(filters.STATUSES)}")
    return value


@functools.lru_cache(maxsize=1024)
def _compiled_filter(text: str, dialect: str) -> tuple[str, tuple[Any, ...]]:
    where, params = filters.to_sql(filters.parse_filter(text), dialect)
    return where, tuple(params)


def parse_filter_param(text: str, dialect: str = "sqlite") -> tuple[str, tuple[Any, ...]]:
    """SQL in `dialect` for the `filter` parameter, or the 400 bad_filter with its position.

    Compiled filters are cached by text: load tests repeat a few filters many times.
    """
    try:
        return _compiled_filter(text, dialect)
    except FilterError as exc:
        raise bad_request("bad_filter", exc.message, position=exc.position) from None


def idempotency_key(req: falcon.Request) -> str:
    """The write's Idempotency-Key header, or a 400."""
    key = req.get_header("Idempotency-Key")
    if not key:
        raise bad_request("missing_idempotency_key", "writes need an Idempotency-Key header")
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not key.isprintable():
        raise bad_request(
            "bad_idempotency_key",
            f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY_CHARS} printable characters",
        )
    return key


def actor_of(req: falcon.Request) -> Actor:
    """Who is writing, from the verified token (anonymous when auth set none)."""
    auth = getattr(req.context, "auth", None)
    if auth is None:
        return Actor()
    return Actor(sub=auth.sub, kid=auth.kid, jti=auth.jti)


class _Writer:
    """Answers a storage write, counting it, mapping domain errors to 404/422."""

    def __init__(self, storage: Storage, metrics: Metrics) -> None:
        self.storage = storage
        self.metrics = metrics

    def answer(self, resp: falcon.Response, op: str, result: WriteResult) -> None:
        self.metrics.count_write(op, replayed=result.replayed)
        resp.status = falcon.code_to_http_status(result.status)
        resp.content_type = falcon.MEDIA_JSON
        resp.text = result.body
        resp.set_header("X-Write-Seq", str(result.seq))
        if result.replayed:
            resp.set_header("Idempotent-Replay", "true")


_MAX_ID = 2**63 - 1


def _known_id(item_id: int) -> int:
    """`item_id` if SQLite can hold it, else the 404 it gets."""
    if not 0 < item_id <= _MAX_ID:
        raise _not_found(item_id)
    return item_id


def _not_found(item_id: int) -> ApiError:
    return ApiError(falcon.HTTP_404, "not_found", f"no item with id {item_id}")


def _conflict(exc: IdempotencyConflict) -> ApiError:
    return ApiError(falcon.HTTP_422, "idempotency_key_reused", str(exc), seq=exc.seq)


class ItemCollection(_Writer):
    """GET /api/items (list) and POST /api/items (create)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """A page of items matching `filter`, in `sort` order."""
        where, params = parse_filter_param(req.get_param("filter") or "", self.storage.dialect.name)
        try:
            sort = filters.parse_sort(req.get_param("sort"))
        except SortError as exc:
            raise bad_request("bad_sort", str(exc), field="sort") from None
        limit = int_param(req, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = int_param(req, "offset", 0, 0, MAX_OFFSET)
        cursor = req.get_param("cursor")
        if cursor and offset:
            raise bad_request("bad_parameter", "use cursor or offset, not both", field="cursor")
        try:
            after = decode_cursor(cursor, sort) if cursor else None
        except CursorError as exc:
            raise bad_request("bad_cursor", str(exc), field="cursor") from None
        page = self.storage.list_items(
            where,
            params,
            sort_field=sort.field,
            descending=sort.descending,
            limit=limit,
            after=after,
            offset=offset,
        )
        next_cursor = None if page.next_key is None else encode_cursor(sort, page.next_key)
        resp.content_type = falcon.MEDIA_JSON
        resp.text = (
            '{"items":['
            + ",".join(page.items)
            + f'],"next_cursor":{json.dumps(next_cursor)},"count":{len(page.items)}}}'
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create an item, once per Idempotency-Key."""
        key = idempotency_key(req)
        fields = validate_item_fields(read_json_object(req), partial=False)
        try:
            result = self.storage.create(fields, key, actor_of(req))
        except IdempotencyConflict as exc:
            raise _conflict(exc) from None
        self.answer(resp, "create", result)


class ItemResource(_Writer):
    """GET, PATCH and DELETE /api/items/{item_id}."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        """One item, or 404."""
        item = self.storage.get_json(_known_id(item_id))
        if item is None:
            raise _not_found(item_id)
        resp.content_type = falcon.MEDIA_JSON
        resp.text = item

    def on_patch(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        """Change some fields, once per Idempotency-Key."""
        key = idempotency_key(req)
        fields = validate_item_fields(read_json_object(req), partial=True)
        try:
            result = self.storage.update(_known_id(item_id), fields, key, actor_of(req))
        except ItemNotFound:
            raise _not_found(item_id) from None
        except IdempotencyConflict as exc:
            raise _conflict(exc) from None
        self.answer(resp, "update", result)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        """Delete the item, once per Idempotency-Key."""
        key = idempotency_key(req)
        try:
            result = self.storage.delete(_known_id(item_id), key, actor_of(req))
        except ItemNotFound:
            raise _not_found(item_id) from None
        except IdempotencyConflict as exc:
            raise _conflict(exc) from None
        self.answer(resp, "delete", result)


class BulkItems:
    """GET /api/items/bulk?ids=1,2,3 (up to 500 ids)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The items found, in the order asked, and the ids not found."""
        raw = req.get_param("ids") or ""
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        if not parts:
            raise bad_request("bad_parameter", "ids: expected ids=1,2,3", field="ids")
        if len(parts) > MAX_BULK_IDS:
            raise bad_request(
                "bad_parameter", f"ids: at most {MAX_BULK_IDS} ids, got {len(parts)}", field="ids"
            )
        try:
            ids = list(dict.fromkeys(int(part) for part in parts))
            if not all(0 < i <= _MAX_ID for i in ids):
                raise ValueError("out of range")
        except ValueError:
            raise bad_request(
                "bad_parameter", "ids: expected comma-separated integers", field="ids"
            ) from None
        found = self.storage.get_many_json(ids)
        resp.content_type = falcon.MEDIA_JSON
        resp.text = (
            '{"items":['
            + ",".join(found[i] for i in ids if i in found)
            + '],"missing":'
            + json.dumps([i for i in ids if i not in found])
            + "}"
        )
