"""The route table, roles, the documented tables, the request context and the guards."""

from __future__ import annotations

import re
from pathlib import Path

import falcon
import falcon.testing
import pytest

from harness.commands import token as token_command
from harness.service.rbac import (
    PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    ROUTES,
    TIERS,
    RequestContext,
    methods_for,
    require_permission,
    require_role,
    roles_markdown,
    roles_with,
    route_for,
    routes_markdown,
)
from harness.service.tokens import Claims

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _doc_block(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert match, f"docs/security.md lacks the {name} markers"
    return match.group(1)


def test_doc_route_table_is_the_code_table() -> None:
    assert _doc_block("rbac-routes") == routes_markdown()


def test_doc_role_table_is_the_code_table() -> None:
    assert _doc_block("rbac-roles") == roles_markdown()


def test_table_shape() -> None:
    keys = [(r.method, r.template) for r in ROUTES]
    assert len(keys) == len(set(keys)) == 22
    assert len(PERMISSIONS) == len(set(PERMISSIONS)) == 14
    assert {r.permission for r in ROUTES if r.permission} == set(PERMISSIONS)
    assert all(r.tier in TIERS for r in ROUTES)
    assert all(r.method == "GET" for r in ROUTES if r.public)
    assert all(r.tier == "dynamic" for r in ROUTES if r.method != "GET")
    assert {r.template for r in ROUTES if r.public} == {
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/static/{path}",
        "/",
        "/pages/{slug}",
    }


def test_roles() -> None:
    assert set(ROLES) == set(ROLE_PERMISSIONS) == {"admin", "service", "user", "viewer"}
    assert ROLE_PERMISSIONS["admin"] == frozenset(PERMISSIONS)
    assert ROLE_PERMISSIONS["viewer"] == {"items:read", "profile:read"}
    assert ROLE_PERMISSIONS["user"] == {
        "items:read",
        "items:create",
        "items:update",
        "items:delete",
        "profile:read",
    }
    assert ROLE_PERMISSIONS["service"] == {
        "items:read",
        "items:bulk_read",
        "writes:verify",
        "metrics:read",
        "profile:read",
    }
    assert roles_with("cdn:purge") == ("admin",)
    assert roles_with(None) == ROLES


def test_lookups() -> None:
    route = route_for("PATCH", "/api/items/{item_id:int}")
    assert route is not None and route.permission == "items:update" and not route.public
    assert route_for("PUT", "/api/items/{item_id:int}") is None
    assert route_for("GET", None) is None
    assert set(methods_for("/api/items/{item_id:int}")) == {"GET", "PATCH", "DELETE"}
    assert methods_for("/nope") == ()


def test_cli_roles_are_the_table_roles() -> None:
    assert set(token_command._ROLES) == set(ROLES)


def _context(role: str) -> RequestContext:
    claims = Claims(sub="s", role=role, kid="k1", jti="j1", iat=1, nbf=1, exp=100)
    return RequestContext.from_claims(claims)


def test_request_context_from_claims() -> None:
    ctx = _context("user")
    assert (ctx.sub, ctx.role, ctx.kid, ctx.jti, ctx.expires_at) == ("s", "user", "k1", "j1", 100)
    assert ctx.permissions == ROLE_PERMISSIONS["user"]
    assert ctx.can("items:delete") and not ctx.can("cdn:purge")


class _SetAuth:
    """Test double for AuthMiddleware: the X-Role header names the caller's role."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        role = req.get_header("X-Role")
        req.context.auth = _context(role) if role else None


class _Guarded:
    @require_permission("items:delete")
    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"who": req.context.auth.sub}

    @require_role("admin")
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}


@require_permission("metrics:read")
class _GuardedClass:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}


@pytest.fixture
def client() -> falcon.testing.TestClient:
    app = falcon.App(middleware=[_SetAuth()])
    app.add_route("/thing", _Guarded())
    app.add_route("/metrics", _GuardedClass())
    return falcon.testing.TestClient(app)


def test_require_permission_guard(client: falcon.testing.TestClient) -> None:
    assert client.simulate_delete("/thing", headers={"X-Role": "user"}).status_code == 200
    denied = client.simulate_delete("/thing", headers={"X-Role": "viewer"})
    assert denied.status_code == 403
    assert denied.json == {
        "error": "forbidden",
        "message": "role 'viewer' lacks permission 'items:delete'",
    }
    anonymous = client.simulate_delete("/thing")
    assert anonymous.status_code == 401
    assert anonymous.json["error"] == "unauthorized"
    assert 'error="invalid_token"' in anonymous.headers["WWW-Authenticate"]


def test_require_role_guard(client: falcon.testing.TestClient) -> None:
    assert client.simulate_post("/thing", headers={"X-Role": "admin"}).status_code == 200
    assert client.simulate_post("/thing", headers={"X-Role": "user"}).status_code == 403
    assert client.simulate_post("/thing").status_code == 401


def test_guard_on_resource_class(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/metrics", headers={"X-Role": "service"}).status_code == 200
    assert client.simulate_get("/metrics", headers={"X-Role": "viewer"}).status_code == 403


def test_guards_refuse_unknown_names() -> None:
    with pytest.raises(ValueError, match="permission"):
        require_permission("items:write")
    with pytest.raises(ValueError, match="role"):
        require_role("root")
