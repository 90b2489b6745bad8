"""The default matrix: the reference service's own access table (`harness.service.rbac`).

Paths are filled with values that exercise authorization without destroying data: reads
use a seeded item, changes and deletes use an id that does not exist (a 404 still proves
the call got past the permission check; a missing permission is a 403 before any lookup).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from harness.audit.matrix import (
    ANONYMOUS,
    AuthRules,
    Call,
    Expect,
    Limits,
    Matrix,
    ObjectRule,
    RouteRule,
)

MISSING_ITEM_ID = 2_000_000_001
ITEM_BODY: dict[str, Any] = {"name": "audit", "category": "audit", "price": 1.5, "quantity": 1}
_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/items"): ITEM_BODY,
    ("PATCH", "/api/items/{item_id:int}"): {"name": "audit"},
    ("POST", "/api/writes/lookup"): {"keys": ["audit-none"]},
    ("POST", "/admin/cdn/purge"): {"prefix": "/pages/audit-none"},
    ("POST", "/admin/tokens/revoke"): {},
    ("POST", "/admin/tokens"): {},
    ("POST", "/admin/keys/rotate"): {},
}
_VALUES = {"path": "app.css", "slug": "about"}


def _concrete(method: str, template: str) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "item_id":
            return "1" if method == "GET" else str(MISSING_ITEM_ID)
        return _VALUES.get(name, "audit")

    return re.sub(r"\{(\w+)(?::[^}]*)?\}", fill, template)


def reference_routes() -> tuple[RouteRule, ...]:
    """Every route of `rbac.ROUTES` but key rotation, with each role's expected status."""
    from harness.service.rbac import ROLES, ROUTES, roles_with

    routes = []
    for route in ROUTES:
        if route.template == "/admin/keys/rotate":
            continue  # rotating the signing key is tested by the DR scenarios, not here
        allowed = set(roles_with(route.permission))
        expect: dict[str, Expect] = {r: ("allow" if r in allowed else 403) for r in ROLES}
        expect[ANONYMOUS] = "allow" if route.public else 401
        call = Call(
            route.method,
            _concrete(route.method, route.template),
            _BODIES.get((route.method, route.template)),
        )
        routes.append(RouteRule(call, MappingProxyType(expect)))
    return tuple(routes)


def reference_matrix() -> Matrix:
    """The matrix of the reference service, from its route table."""
    from harness.service.rbac import ROLES
    from harness.service.tokens import LEEWAY_S

    item = ObjectRule(
        name="item",
        owner="user",
        create=Call("POST", "/api/items", ITEM_BODY),
        read=Call("GET", "/api/items/{id}"),
        update=Call("PATCH", "/api/items/{id}", {"name": "audit-changed"}),
        delete=Call("DELETE", "/api/items/{id}"),
        id_field="item.id",
        server_fields=MappingProxyType(
            {"id": 987654321, "seq": 987654321, "owner": "audit-intruder", "role": "admin"}
        ),
        intruders=(),
    )
    limits = Limits(
        list_path="/api/items",
        page_param="limit",
        page_max=1000,
        write=Call("POST", "/api/items", ITEM_BODY),
        in_list_path="/api/items",
        in_list_param="filter",
        in_list_template="id in ({values})",
        in_list_count=2_000,
        slow=(
            Call(
                "GET",
                "/api/items",
                params=MappingProxyType(
                    {"filter": 'name like "%a%e%i%o%u%"', "limit": "1000", "sort": "-price"}
                ),
            ),
        ),
    )
    revoke = Call("POST", "/admin/tokens/revoke", {"jti": "{jti}"}, role="admin")
    issue = Call("POST", "/admin/tokens", {"role": "viewer", "sub": "audit-revoked"}, role="admin")
    return Matrix(
        source="reference service (harness.service.rbac)",
        roles=tuple(ROLES),
        routes=reference_routes(),
        objects=(item,),
        limits=limits,
        auth=AuthRules(leeway_s=float(LEEWAY_S), revoke=revoke, issue=issue),
    )
