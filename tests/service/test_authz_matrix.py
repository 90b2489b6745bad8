"""The full authorization matrix against the real app, generated from the one route table.

Every caller (each role, anonymous, an expired token) meets every route in `ROUTES`:
public routes never answer 401/403; a role holding the route's permission is never refused;
a role without it gets 403; anonymous and expired callers on a protected route get 401.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from harness.service.app import create_app
from harness.service.config import ServiceConfig
from harness.service.rbac import ROLE_PERMISSIONS, ROLES, ROUTES, Route
from harness.service.tokens import Keyring

CALLERS: tuple[str, ...] = (*ROLES, "anonymous", "expired")
_PATH_PARAMS = {"path": "app.css", "slug": "about", "item_id:int": "7"}
_BODIES: dict[str, dict[str, Any]] = {
    "/api/items": {"name": "matrix", "category": "tools", "price": 1.5, "quantity": 2},
    "/api/items/{item_id:int}": {"quantity": 3},
    "/api/writes/lookup": {"keys": ["k-1", "k-2"]},
    "/admin/tokens/revoke": {"jti": "some-old-token"},
    "/admin/tokens": {"role": "viewer", "sub": "matrix"},
}
_QUERIES = {"/api/items/bulk": "ids=1,2,3"}
_sequence = itertools.count()


class Service:
    """One app on one data dir, with a token per role and an expired one."""

    def __init__(self, data_dir: Path) -> None:
        self.client = falcon.testing.TestClient(
            create_app(ServiceConfig(data_dir=data_dir, seed_items=50))
        )
        keyring = Keyring(data_dir)
        self.tokens = {role: keyring.issue(role, f"matrix-{role}") for role in ROLES}
        past = Keyring(data_dir, clock=lambda: time.time() - 7200)
        self.tokens["expired"] = past.issue("admin", "matrix-expired", ttl_s=60)

    def call(self, caller: str, route: Route) -> falcon.testing.Result:
        path = route.template
        for name, value in _PATH_PARAMS.items():
            path = path.replace("{" + name + "}", value)
        headers = {"Idempotency-Key": f"matrix-{next(_sequence)}"}
        if caller in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[caller]}"
        body = _BODIES.get(route.template) if route.method != "GET" else None
        if route.method == "DELETE":
            body = None
        return self.client.simulate_request(
            route.method,
            path,
            headers=headers,
            json=body,
            query_string=_QUERIES.get(route.template),
        )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield Service(tmp_path_factory.mktemp("matrix"))


def _expected(caller: str, route: Route) -> str:
    if route.permission is None:
        return "served"
    if caller in ("anonymous", "expired"):
        return "401"
    return "served" if route.permission in ROLE_PERMISSIONS[caller] else "403"


CASES = [
    pytest.param(caller, route, id=f"{caller}-{route.method}-{route.template}")
    for route in ROUTES
    for caller in CALLERS
]


@pytest.mark.parametrize(("caller", "route"), CASES)
def test_matrix(service: Service, caller: str, route: Route) -> None:
    result = service.call(caller, route)
    expected = _expected(caller, route)
    status = result.status_code
    if expected == "served":
        assert status not in (401, 403), result.text
        assert status < 500, result.text
        if route.method == "GET":
            assert status == 200, result.text
    else:
        assert status == int(expected), result.text
        error = "unauthorized" if expected == "401" else "forbidden"
        assert result.json["error"] == error
        assert result.headers["WWW-Authenticate"].startswith("Bearer ")
        assert result.headers["Cache-Control"] == "no-store"
        assert "X-Cache" not in result.headers


def test_matrix_covers_every_route_and_caller() -> None:
    assert len(CASES) == len(ROUTES) * (len(ROLES) + 2)
    outcomes = {_expected(c, r) for c in CALLERS for r in ROUTES}
    assert outcomes == {"served", "401", "403"}


def test_refused_requests_are_counted(service: Service) -> None:
    anonymous = service.call("anonymous", Route("GET", "/admin/audit", "audit:read", "dynamic"))
    assert anonymous.status_code == 401
    stats = service.client.simulate_get(
        "/metrics", headers={"Authorization": f"Bearer {service.tokens['admin']}"}
    )
    assert stats.status_code == 200
    assert "harness_auth" in stats.text
