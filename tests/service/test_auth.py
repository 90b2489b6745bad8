"""AuthMiddleware on a small Falcon app: fail-closed routing, 401/403 shapes, counters."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import pytest

from harness.service.auth import AuthMiddleware
from harness.service.config import ServiceConfig
from harness.service.rbac import RequestContext
from harness.service.server import start_service
from harness.service.tokens import Keyring


class _Echo:
    """Answers every method with who called."""

    def _answer(self, req: falcon.Request, resp: falcon.Response, **params: object) -> None:
        auth = req.context.auth
        resp.media = {"sub": auth.sub, "role": auth.role} if auth else {"sub": None}

    on_get = on_post = on_patch = on_delete = on_put = _answer


def _app(keyring: Keyring, state_dir: Path | None = None) -> falcon.testing.TestClient:
    middleware = AuthMiddleware(keyring, state_dir)
    app = falcon.App(middleware=[middleware])
    for template in ["/healthz", "/api/items", "/api/items/{item_id:int}", "/admin/audit"]:
        app.add_route(template, _Echo())
    app.add_route("/not-in-table", _Echo())
    client = falcon.testing.TestClient(app)
    client.middleware = middleware  # type: ignore[attr-defined]
    return client


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring(tmp_path)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_public_route_needs_nothing_and_ignores_bad_tokens(keyring: Keyring) -> None:
    client = _app(keyring)
    assert client.simulate_get("/healthz").json == {"sub": None}
    assert client.simulate_get("/healthz", headers=_bearer("junk")).status_code == 200


def test_permitted_caller_gets_request_context(keyring: Keyring) -> None:
    client = _app(keyring)
    token = keyring.issue("viewer", "vera")
    result = client.simulate_get("/api/items/7", headers=_bearer(token))
    assert result.status_code == 200
    assert result.json == {"sub": "vera", "role": "viewer"}


def test_context_object_carries_claims(keyring: Keyring) -> None:
    seen: list[RequestContext] = []

    class Capture:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            seen.append(req.context.auth)

    app = falcon.App(middleware=[AuthMiddleware(keyring)])
    app.add_route("/api/items", Capture())
    token = keyring.issue("user", "ulla", ttl_s=120)
    falcon.testing.TestClient(app).simulate_get("/api/items", headers=_bearer(token))
    ctx = seen[0]
    claims = keyring.verify(token)
    assert (ctx.sub, ctx.role, ctx.kid, ctx.jti) == ("ulla", "user", claims.kid, claims.jti)
    assert ctx.expires_at == claims.exp and "items:create" in ctx.permissions


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
        ({"Authorization": "Bearer"}, "Bearer"),
        ({"Authorization": "Bearer not.a.jwt"}, "well-formed"),
    ],
)
def test_missing_or_malformed_credentials_are_401(
    keyring: Keyring, headers: dict[str, str], reason: str
) -> None:
    result = _app(keyring).simulate_get("/api/items", headers=headers)
    assert result.status_code == 401
    assert result.json["error"] == "unauthorized" and reason in result.json["message"]
    challenge = result.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    assert "error_description=" in challenge


def test_expired_token_is_401_naming_expiry(tmp_path: Path, keyring: Keyring) -> None:
    old = Keyring(tmp_path, clock=lambda: time.time() - 7200).issue("admin", "a")
    result = _app(keyring).simulate_get("/admin/audit", headers=_bearer(old))
    assert result.status_code == 401
    assert result.json == {"error": "unauthorized", "message": "token expired"}
    assert 'error_description="token expired"' in result.headers["WWW-Authenticate"]
    assert old not in result.text


def test_valid_token_without_permission_is_403(keyring: Keyring) -> None:
    result = _app(keyring).simulate_get("/admin/audit", headers=_bearer(keyring.issue("user", "u")))
    assert result.status_code == 403
    assert result.json == {
        "error": "forbidden",
        "message": "role 'user' lacks permission 'audit:read'",
    }
    assert 'error="insufficient_scope"' in result.headers["WWW-Authenticate"]


def test_routes_missing_from_table_fail_closed(keyring: Keyring) -> None:
    client = _app(keyring)
    admin = _bearer(keyring.issue("admin", "root"))
    assert client.simulate_get("/not-in-table", headers=admin).status_code == 404
    put = client.simulate_put("/api/items/1", headers=admin)
    assert put.status_code == 405
    assert set(put.headers["Allow"].replace(" ", "").split(",")) == {"GET", "PATCH", "DELETE"}
    assert client.simulate_head("/healthz").status_code == 405
    assert client.simulate_get("/nowhere").status_code == 404


def test_revocation_takes_effect_on_next_request(keyring: Keyring) -> None:
    client = _app(keyring)
    token = keyring.issue("service", "svc")
    assert client.simulate_get("/api/items", headers=_bearer(token)).status_code == 200
    keyring.revoke(jti=keyring.verify(token).jti)
    result = client.simulate_get("/api/items", headers=_bearer(token))
    assert result.status_code == 401 and result.json["message"] == "token has been revoked"


def test_auth_stats_add_up_across_middlewares(tmp_path: Path, keyring: Keyring) -> None:
    first, second = _app(keyring, tmp_path / "auth"), _app(keyring, tmp_path / "auth")
    viewer = _bearer(keyring.issue("viewer", "v"))
    first.simulate_get("/api/items", headers=viewer)
    second.simulate_get("/api/items", headers=viewer)
    second.simulate_get("/admin/audit", headers=viewer)
    first.simulate_get("/api/items")
    first.simulate_get("/api/items", headers=_bearer("x.y.z"))
    first.simulate_get("/healthz")
    first.simulate_get("/not-in-table")
    stats = first.middleware.auth_stats()  # type: ignore[attr-defined]
    assert stats["allowed"] == 2
    assert stats["forbidden"] == 1
    assert stats["unauthorized"] == 2
    assert stats["unauthorized_by_reason"]["missing"] == 1
    assert stats["unauthorized_by_reason"]["malformed"] == 1
    assert stats["public"] == 1 and stats["not_routed"] == 1
    assert stats == second.middleware.auth_stats()  # type: ignore[attr-defined]


def _http(
    url: str, method: str, path: str, token: str | None = None, body: object = None
) -> tuple[int, Any]:
    """One request on a fresh connection (so requests spread over worker processes)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        reply = conn.getresponse()
        raw = reply.read()
    finally:
        conn.close()
    return reply.status, json.loads(raw) if raw.startswith(b"{") else raw


@pytest.mark.e2e
def test_cli_tokens_rotation_and_revocation_across_worker_processes(tmp_path: Path) -> None:
    config = ServiceConfig(port=0, workers=2, data_dir=tmp_path, seed_items=20)
    with start_service(config) as service:
        command = [sys.executable, "-m", "harness", "token", "--role", "viewer"]
        printed = subprocess.run(
            [*command, "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        viewer = printed.stdout.strip()
        admin = Keyring(tmp_path).issue("admin", "ops")
        assert {_http(service.url, "GET", "/api/me", viewer)[0] for _ in range(8)} == {200}
        status, body = _http(service.url, "POST", "/admin/keys/rotate", admin)
        assert status == 200
        old_kid, new_kid = Keyring(tmp_path).verify(viewer).kid, body["kid"]
        assert {_http(service.url, "GET", "/api/me", viewer)[0] for _ in range(8)} == {200}
        status, body = _http(
            service.url, "POST", "/admin/tokens", admin, {"role": "user"} | {"sub": "fresh"}
        )
        fresh = body["token"]
        assert status == 201 and Keyring(tmp_path).verify(fresh).kid == new_kid
        status, _ = _http(service.url, "POST", "/admin/tokens/revoke", admin, {"kid": old_kid})
        assert status == 200
        for _ in range(8):  # every worker refuses it from its next request on
            status, body = _http(service.url, "GET", "/api/me", viewer)
            assert status == 401 and body["message"] == "token signed by a revoked key"
            assert _http(service.url, "GET", "/api/me", fresh)[0] == 200
        assert _http(service.url, "GET", "/admin/audit", admin)[0] == 401  # old kid's too
        admin = Keyring(tmp_path).issue("admin", "ops")
        jti = Keyring(tmp_path).verify(fresh).jti
        assert _http(service.url, "POST", "/admin/tokens/revoke", admin, {"jti": jti})[0] == 200
        assert {_http(service.url, "GET", "/api/me", fresh)[0] for _ in range(8)} == {401}
