"""The OpenAPI 3.1 description of the service, built from `rbac.ROUTES` and the schemas here.

Every (method, template) in ROUTES must have an entry in OPERATIONS (build_spec raises if
one is missing or extra), so the spec cannot drift from the route table, and a test checks
the table against the app's own routes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.service.cdn_policy import NO_STORE, POLICIES
from harness.service.cursors import MAX_CURSOR_CHARS
from harness.service.filters import FIELDS, MAX_FILTER_CHARS, OPERATORS, STATUSES
from harness.service.rbac import ROUTES
from harness.service.resources.common import MAX_BODY_BYTES
from harness.service.resources.items import MAX_IDEMPOTENCY_KEY_CHARS, MAX_OFFSET
from harness.service.tokens import MAX_TOKEN_TTL_S

JSON = "application/json"
_CONVERTER = re.compile(r"\{(\w+)(?::(\w+)[^}]*)?\}")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_ITEM_PROPS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "category": {"type": "string", "minLength": 1, "maxLength": 100},
    "price": {"type": "number", "minimum": 0, "maximum": 1e9},
    "quantity": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
    "status": {"type": "string", "enum": list(STATUSES)},
}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "machine-readable code"},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "the offending field, when one is"},
            "position": {"type": "integer", "description": "0-based offset in a bad filter"},
        },
    },
    "Item": {
        "type": "object",
        "required": ["id", *_ITEM_PROPS, "created_at"],
        "properties": {
            "id": {"type": "integer"},
            **_ITEM_PROPS,
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "ItemCreate": {
        "type": "object",
        "required": ["name", "category", "price", "quantity"],
        "additionalProperties": False,
        "properties": _ITEM_PROPS,
    },
    "ItemPatch": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": _ITEM_PROPS,
    },
    "ItemPage": {
        "type": "object",
        "required": ["items", "next_cursor", "count"],
        "properties": {
            "items": {"type": "array", "items": _ref("Item")},
            "next_cursor": {"type": ["string", "null"]},
            "count": {"type": "integer", "description": "items in this page"},
        },
    },
    "BulkItems": {
        "type": "object",
        "required": ["items", "missing"],
        "properties": {
            "items": {"type": "array", "items": _ref("Item")},
            "missing": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "ItemWritten": {
        "type": "object",
        "required": ["item", "seq"],
        "properties": {"item": _ref("Item"), "seq": {"type": "integer"}},
    },
    "ItemDeleted": {
        "type": "object",
        "required": ["deleted", "seq"],
        "properties": {"deleted": {"type": "integer"}, "seq": {"type": "integer"}},
    },
    "LookupRequest": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "maxItems": 10000, "items": {"type": "string"}}},
    },
    "LookupResult": {
        "type": "object",
        "required": ["found", "missing"],
        "properties": {
            "found": {"type": "object", "additionalProperties": {"type": "integer"}},
            "missing": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Audit": {
        "type": "object",
        "required": ["writes", "count", "next_since_seq"],
        "properties": {
            "writes": {"type": "array", "items": {"type": "object"}},
            "count": {"type": "integer"},
            "next_since_seq": {"type": ["integer", "null"]},
        },
    },
    "Status": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string"},
            "storage": {"type": "string", "description": "readiness: the storage check"},
            "last_seq": {"type": "integer", "description": "readiness: the last write's seq"},
        },
    },
    "Me": {
        "type": "object",
        "required": ["sub", "role", "permissions", "kid", "jti"],
        "properties": {
            "sub": {"type": "string"},
            "role": {"type": "string"},
            "permissions": {"type": "array", "items": {"type": "string"}},
            "kid": {"type": "string"},
            "jti": {"type": "string"},
        },
    },
    "Object": {"type": "object"},
    "TokenRequest": {
        "type": "object",
        "required": ["role", "sub"],
        "properties": {
            "role": {"type": "string", "enum": ["admin", "service", "user", "viewer"]},
            "sub": {"type": "string", "minLength": 1, "maxLength": 200},
            "ttl_s": {
                "type": "number",
                "minimum": 1,
                "maximum": MAX_TOKEN_TTL_S,
                "default": 3600,
                "description": "seconds; tokens live at most 30 days",
            },
        },
    },
    "RevokeRequest": {
        "type": "object",
        "description": "a jti, a kid or both; null means not given",
        "properties": {
            "jti": {"type": ["string", "null"], "minLength": 1},
            "kid": {"type": ["string", "null"], "minLength": 1},
        },
    },
}


@dataclass(frozen=True)
class Operation:
    """One route's documentation: what it does, its inputs and its answers."""

    summary: str
    responses: dict[str, tuple[str, str | None]]  # status -> (description, schema or media)
    query: tuple[tuple[str, dict[str, Any], str], ...] = ()
    body: str | None = None
    headers: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


_ITEM_ID = ("item_id",)
_SORTS = [prefix + name for name in FIELDS for prefix in ("", "-")]
_FILTER_HELP = (
    "Conditions joined by ';', each `field op value`; operators: " + " ".join(OPERATORS) + "."
)
_WRITE_ERRORS = {
    "400": ("invalid body, field or missing Idempotency-Key", "Error"),
    "422": ("Idempotency-Key reused for a different request", "Error"),
    "503": ("storage unavailable", "Error"),
}
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/healthz"): Operation("Liveness", {"200": ("the process serves", "Status")}),
    ("GET", "/readyz"): Operation(
        "Readiness, storage included",
        {"200": ("ready", "Status"), "503": ("storage down", "Error")},
    ),
    ("GET", "/openapi.json"): Operation("This document", {"200": ("OpenAPI 3.1", "Object")}),
    ("GET", "/static/{path}"): Operation(
        "A static file (css, js, svg)",
        {"200": ("the file", "*/*"), "404": ("no such file", "Error")},
    ),
    ("GET", "/"): Operation("Home page", {"200": ("HTML", "text/html")}),
    ("GET", "/pages/{slug}"): Operation(
        "A small HTML page", {"200": ("HTML", "text/html"), "404": ("no such page", "Error")}
    ),
    ("GET", "/api/items"): Operation(
        "List items: filter, sort, paginate",
        {"200": ("a page of items", "ItemPage"), "400": ("bad filter or parameter", "Error")},
        query=(
            ("filter", {"type": "string", "maxLength": MAX_FILTER_CHARS}, _FILTER_HELP),
            ("sort", {"type": "string", "enum": _SORTS}, "field or -field"),
            ("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}, ""),
            (
                "cursor",
                {"type": "string", "maxLength": MAX_CURSOR_CHARS},
                "next_cursor of the previous page",
            ),
            (
                "offset",
                {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
                "not with cursor",
            ),
        ),
    ),
    ("GET", "/api/items/bulk"): Operation(
        "Get up to 500 items by id",
        {"200": ("found and missing", "BulkItems"), "400": ("bad ids", "Error")},
        query=(("ids", {"type": "string"}, "comma-separated ids"),),
    ),
    ("GET", "/api/items/{item_id:int}"): Operation(
        "Get one item", {"200": ("the item", "Item"), "404": ("no such item", "Error")}
    ),
    ("POST", "/api/items"): Operation(
        "Create an item (idempotent)",
        {"201": ("created", "ItemWritten"), **_WRITE_ERRORS},
        body="ItemCreate",
        headers=("Idempotency-Key",),
    ),
    ("PATCH", "/api/items/{item_id:int}"): Operation(
        "Change an item (idempotent)",
        {"200": ("changed", "ItemWritten"), "404": ("no such item", "Error"), **_WRITE_ERRORS},
        body="ItemPatch",
        headers=("Idempotency-Key",),
    ),
    ("DELETE", "/api/items/{item_id:int}"): Operation(
        "Delete an item (idempotent)",
        {"200": ("deleted", "ItemDeleted"), "404": ("no such item", "Error"), **_WRITE_ERRORS},
        headers=("Idempotency-Key",),
    ),
    ("POST", "/api/writes/lookup"): Operation(
        "Which idempotency keys were written, with their seq",
        {"200": ("found and missing", "LookupResult"), "400": ("bad body", "Error")},
        body="LookupRequest",
    ),
    ("GET", "/api/me"): Operation("The caller", {"200": ("who the token names", "Me")}),
    ("GET", "/metrics"): Operation("Prometheus counters", {"200": ("text", "text/plain")}),
    ("GET", "/admin/cdn/stats"): Operation("Edge cache counters", {"200": ("counters", "Object")}),
    ("POST", "/admin/cdn/purge"): Operation("Purge the edge cache", {"200": ("purged", "Object")}),
    ("POST", "/admin/keys/rotate"): Operation(
        "Rotate the signing key", {"200": ("the new kid", "Object")}
    ),
    ("POST", "/admin/tokens/revoke"): Operation(
        "Revoke a token (jti) or a key (kid)",
        {
            "200": ("revoked", "Object"),
            "400": ("bad body", "Error"),
            "404": ("unknown kid", "Error"),
        },
        body="RevokeRequest",
    ),
    ("POST", "/admin/tokens"): Operation(
        "Issue a token",
        {"201": ("the token", "Object"), "400": ("bad body", "Error")},
        body="TokenRequest",
    ),
    ("GET", "/admin/audit"): Operation(
        "The write log with actors",
        {"200": ("writes", "Audit"), "400": ("bad parameter", "Error")},
        query=(
            ("kid", {"type": "string", "maxLength": 200}, "signing key id"),
            ("sub", {"type": "string"}, "token subject"),
            (
                "since_seq",
                {"type": "integer", "minimum": 0, "maximum": 2**62},
                "writes after this seq",
            ),
            ("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, ""),
        ),
    ),
    ("GET", "/admin/statements"): Operation(
        "SQL statements run, per route, with calls, time and rows",
        {"200": ("statements", "Object")},
    ),
}


def openapi_path(template: str) -> str:
    """A Falcon URI template as an OpenAPI path (`{item_id:int}` -> `{item_id}`)."""
    return _CONVERTER.sub(lambda m: "{" + m.group(1) + "}", template)


def _content(target: str | None) -> dict[str, Any]:
    if target is None:
        return {}
    if "/" in target:
        return {"content": {target: {"schema": {"type": "string"}}}}
    return {"content": {JSON: {"schema": _ref(target)}}}


def _cache_header(method: str, tier: str, status: str) -> dict[str, Any]:
    """The Cache-Control an answer carries (docs/cdn.md): its tier's policy on a cacheable
    GET's 200, `no-store` on everything else."""
    stored = status == "200" and method == "GET" and tier != "dynamic"
    value = POLICIES[tier].cache_control if stored else NO_STORE
    return {
        "Cache-Control": {
            "required": True,
            "description": "the edge cache's policy for this answer",
            "schema": {"type": "string", "const": value},
        }
    }


def _operation_id(method: str, template: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", openapi_path(template)).strip("_")
    return f"{method.lower()}_{words or 'index'}"


def _operation(method: str, template: str, permission: str | None, tier: str) -> dict[str, Any]:
    doc = OPERATIONS[(method, template)]
    params: list[dict[str, Any]] = []
    for name, converter in _CONVERTER.findall(template):
        schema = {"type": "integer"} if converter == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, schema, description in doc.query:
        params.append({"name": name, "in": "query", "schema": schema, "description": description})
    for name in doc.headers:
        header_schema = {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS}
        params.append({"name": name, "in": "header", "required": True, "schema": header_schema})
    responses = {
        code: {
            "description": text,
            **_content(target),
            "headers": _cache_header(method, tier, code),
        }
        for code, (text, target) in doc.responses.items()
    }
    op: dict[str, Any] = {
        "summary": doc.summary,
        "operationId": _operation_id(method, template),
        "x-cdn-tier": tier,
        "responses": responses,
    }
    if params:
        op["parameters"] = params
    if doc.body is not None:
        op["requestBody"] = {"required": True, **_content(doc.body)}
    # Any route: an unknown or repeated query parameter (QueryGuard); any body: over 2 MiB.
    general = [("400", "unknown or repeated query parameter")]
    if doc.body is not None:
        general.append(("413", f"body over {MAX_BODY_BYTES} bytes"))
    for code, text in general:
        headers = _cache_header(method, tier, code)
        responses.setdefault(code, {"description": text, **_content("Error"), "headers": headers})
    if permission is not None:
        op["security"] = [{"bearer": [permission]}]
        op["x-permission"] = permission
        for code, text in (("401", "missing or bad token"), ("403", f"lacks {permission}")):
            headers = _cache_header(method, tier, code)
            responses.setdefault(
                code, {"description": text, **_content("Error"), "headers": headers}
            )
    return op


def build_spec() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for ROUTES."""
    keys = {(route.method, route.template) for route in ROUTES}
    if keys != set(OPERATIONS):
        raise RuntimeError(f"OPERATIONS and ROUTES differ: {sorted(keys ^ set(OPERATIONS))}")
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        path = paths.setdefault(openapi_path(route.template), {})
        path[route.method.lower()] = _operation(
            route.method, route.template, route.permission, route.tier
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "harness reference service",
            "version": "1",
            "description": "Items with filtering, idempotent writes, RBAC and an edge cache.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
