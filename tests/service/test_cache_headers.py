"""What the whole app (in process) tells caches downstream of it: authenticated answers are
never storable by a shared cache, writes and other dynamic answers never stored at all."""

from __future__ import annotations

import json
from pathlib import Path

import falcon.testing
import pytest

from harness.service.app import create_app
from harness.service.config import ServiceConfig
from harness.service.tokens import Keyring

ITEM = {"name": "Kettle", "category": "kitchen", "price": 3.5, "quantity": 1}


@pytest.fixture(scope="module")
def app_and_tokens(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[falcon.testing.TestClient, dict[str, str]]:
    data_dir: Path = tmp_path_factory.mktemp("cache-headers")
    client = falcon.testing.TestClient(create_app(ServiceConfig(data_dir=data_dir, seed_items=10)))
    keyring = Keyring(data_dir)
    roles = ("admin", "service", "user", "viewer")
    return client, {role: f"Bearer {keyring.issue(role, f't-{role}')}" for role in roles}


@pytest.mark.parametrize("path", ["/api/items", "/api/items/1", "/api/items/bulk?ids=1,2"])
def test_authenticated_reads_are_private(
    app_and_tokens: tuple[falcon.testing.TestClient, dict[str, str]], path: str
) -> None:
    client, tokens = app_and_tokens
    for attempt in ("MISS", "HIT"):
        result = client.simulate_get(path, headers={"Authorization": tokens["service"]})
        assert result.status_code == 200 and result.headers["X-Cache"] == attempt
        directives = {d.strip() for d in result.headers["Cache-Control"].split(",")}
        assert "private" in directives, directives
        assert "public" not in directives and not any(d.startswith("s-maxage") for d in directives)


def test_public_content_stays_public(
    app_and_tokens: tuple[falcon.testing.TestClient, dict[str, str]],
) -> None:
    client, _ = app_and_tokens
    for path in ("/static/app.css", "/", "/pages/about", "/openapi.json"):
        assert client.simulate_get(path).headers["Cache-Control"].startswith("public")


def test_every_write_and_dynamic_answer_is_no_store(
    app_and_tokens: tuple[falcon.testing.TestClient, dict[str, str]],
) -> None:
    client, tokens = app_and_tokens
    user = {"Authorization": tokens["user"], "Content-Type": "application/json"}
    admin = {"Authorization": tokens["admin"], "Content-Type": "application/json"}
    body = json.dumps(ITEM)
    answers = [
        client.simulate_post("/api/items", body=body, headers=user | {"Idempotency-Key": "c1"}),
        client.simulate_post("/api/items", body=body, headers=user | {"Idempotency-Key": "c1"}),
        client.simulate_post("/api/items", body="{}", headers=user | {"Idempotency-Key": "c2"}),
        client.simulate_post("/api/items", body="[]", headers=user | {"Idempotency-Key": "c1"}),
        client.simulate_post(
            "/api/items",
            body=json.dumps(ITEM | {"quantity": 9}),
            headers=user | {"Idempotency-Key": "c1"},
        ),
        client.simulate_post("/api/items", body=body, headers=user),
        client.simulate_patch(
            "/api/items/1", body='{"quantity":2}', headers=user | {"Idempotency-Key": "c3"}
        ),
        client.simulate_delete("/api/items/999", headers=user | {"Idempotency-Key": "c4"}),
        client.simulate_post("/api/writes/lookup", body='{"keys":["c1"]}', headers=admin),
        client.simulate_post("/admin/tokens", body='{"role":"user","sub":"x"}', headers=admin),
        client.simulate_post("/admin/cdn/purge", headers=admin),
        client.simulate_get("/api/me", headers=admin),
        client.simulate_get("/admin/audit", headers=admin),
        client.simulate_get("/metrics", headers=admin),
        client.simulate_get("/healthz"),
        client.simulate_get("/readyz"),
        client.simulate_post("/api/items", body=body),
        client.simulate_get("/no/such/route"),
    ]
    statuses = sorted({answer.status_code for answer in answers})
    assert statuses == [200, 201, 400, 401, 404, 422], statuses
    for answer in answers:
        assert answer.headers.get("Cache-Control") == "no-store", (answer.status, answer.text)
