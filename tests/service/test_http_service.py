"""Health, readiness, metrics, the OpenAPI spec and public content, over real HTTP; the
spec is also checked against the app's own routes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import falcon.inspect
import falcon.testing
import pytest

from harness.errors import RunFailed
from harness.service.app import create_app
from harness.service.cdn_policy import POLICIES
from harness.service.config import ServiceConfig
from harness.service.openapi import build_spec, openapi_path
from harness.service.rbac import ROUTES
from harness.service.server import start_service


def _app_routes(app: falcon.App) -> set[tuple[str, str]]:
    return {
        (method.method, openapi_path(route.path))
        for route in falcon.inspect.inspect_routes(app)
        for method in route.methods
        if not method.internal
    }


def test_openapi_paths_and_methods_equal_the_apps_routes(tmp_path: Path) -> None:
    app = create_app(ServiceConfig(data_dir=tmp_path, seed_items=0))
    spec = build_spec()
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert documented == _app_routes(app)
    assert documented == {(r.method, openapi_path(r.template)) for r in ROUTES}
    assert spec["openapi"].startswith("3.1")
    for route in ROUTES:
        operation = spec["paths"][openapi_path(route.template)][route.method.lower()]
        assert ("security" in operation) == (route.permission is not None)


def test_openapi_documents_the_cache_control_of_every_answer() -> None:
    spec = build_spec()
    for route in ROUTES:
        operation = spec["paths"][openapi_path(route.template)][route.method.lower()]
        for status, response in operation["responses"].items():
            header = response["headers"]["Cache-Control"]
            stored = status == "200" and route.method == "GET" and route.tier != "dynamic"
            expected = POLICIES[route.tier].cache_control if stored else "no-store"
            assert header["required"] and header["schema"]["const"] == expected, (route, status)


@pytest.mark.e2e
def test_openapi_is_served(client: Any) -> None:
    reply = client.get("/openapi.json")
    assert reply.status == 200
    assert reply.body == build_spec()


@pytest.mark.e2e
def test_health_and_readiness(client: Any) -> None:
    assert client.get("/healthz").body == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status == 200 and ready.body["storage"] == "ok"
    assert ready.headers["cache-control"] == "no-store"


@pytest.mark.e2e
def test_static_files_and_pages(client: Any) -> None:
    css = client.get("/static/app.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/logo.svg").headers["content-type"] == "image/svg+xml"
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    home = client.get("/")
    assert home.status == 200 and b"/pages/about" in home.raw
    assert client.get("/pages/about").raw == client.get("/pages/about").raw
    missing = client.get("/pages/nope")
    assert (missing.status, missing.body["error"]) == (404, "not_found")
    assert client.get("/static/nope.css").status == 404


@pytest.mark.e2e
def test_metrics_count_requests_and_need_permission(
    client: Any, service: Any, make_client: Callable[..., Any], token_for: Callable[[str], str]
) -> None:
    client.get("/api/items/1")
    text = client.get("/metrics").raw.decode()
    assert 'harness_http_requests_total{method="GET",route="/api/items/{item_id:int}"' in text
    assert "harness_http_request_duration_seconds_count" in text
    assert "harness_storage_up 1" in text
    assert "harness_cdn_hits" in text
    assert make_client(service.url).get("/metrics").status == 401
    assert make_client(service.url, token_for("viewer")).get("/metrics").status == 403


@pytest.mark.e2e
def test_me_names_the_caller(
    service: Any, make_client: Callable[..., Any], token_for: Callable[[str], str]
) -> None:
    me = make_client(service.url, token_for("viewer")).get("/api/me").body
    assert (me["sub"], me["role"]) == ("test-viewer", "viewer")
    assert me["permissions"] == ["items:read", "profile:read"]


@pytest.mark.e2e
def test_readiness_reports_broken_storage(tmp_path: Path, make_client: Callable[..., Any]) -> None:
    config = ServiceConfig(port=0, data_dir=tmp_path, seed_items=10)
    with start_service(config) as service:
        client = make_client(service.url)
        assert client.get("/readyz").status == 200
        db_path = config.items_db_path
        header = db_path.read_bytes()[:100]
        with open(db_path, "r+b") as handle:
            handle.write(b"\0" * 100)
        broken = client.get("/readyz")
        assert broken.status == 503
        assert broken.body["error"] == "not_ready" and broken.body["storage"] == "SQLITE_NOTADB"
        assert client.get("/healthz").status == 200
        with open(db_path, "r+b") as handle:
            handle.write(header)
        assert client.get("/readyz").status == 200


@pytest.mark.e2e
def test_start_service_reports_a_server_that_cannot_start(tmp_path: Path) -> None:
    (tmp_path / "items.db").write_bytes(b"this is not a database" * 100)
    config = ServiceConfig(port=0, data_dir=tmp_path, seed_items=10)
    with pytest.raises(RunFailed, match="exited with code"):
        start_service(config, ready_timeout_s=30)


def _in_process_client(tmp_path: Path) -> tuple[falcon.testing.TestClient, dict[str, str]]:
    from harness.service.tokens import Keyring

    app = create_app(ServiceConfig(data_dir=tmp_path, seed_items=20))
    token = Keyring(tmp_path).issue("admin", "test-admin")
    return falcon.testing.TestClient(app), {"Authorization": f"Bearer {token}"}


def test_lost_storage_is_a_503_json(tmp_path: Path) -> None:
    client, auth = _in_process_client(tmp_path)
    assert client.simulate_get("/api/items/1", headers=auth).status_code == 200
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"items.db{suffix}").unlink(missing_ok=True)
    reply = client.simulate_post(
        "/api/items",
        json={"name": "n", "category": "c", "price": 1, "quantity": 1},
        headers={**auth, "Idempotency-Key": "after-loss"},
    )
    assert reply.status_code == 503
    assert reply.json["error"] == "storage_unavailable"
    assert reply.headers["retry-after"] == "1"
    assert client.simulate_get("/readyz").status_code == 503
    assert client.simulate_get("/healthz").status_code == 200


def test_an_unexpected_error_is_a_500_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.service.storage import Storage

    def broken(self: Storage, item_id: int) -> str:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(Storage, "get_json", broken)
    client, auth = _in_process_client(tmp_path)
    reply = client.simulate_get("/api/items/1", headers=auth)
    assert reply.status_code == 500
    assert reply.json == {"error": "internal_error", "message": "internal error (RuntimeError)"}
    assert "secret detail" not in reply.text and "Traceback" not in reply.text


def test_metrics_sum_every_process_snapshot(tmp_path: Path) -> None:
    from harness.service.metrics import Metrics, render_prometheus

    other = Metrics(tmp_path / "other")  # another process's snapshot, moved beside ours
    other.observe("GET", "/api/items", "200", 0.004)
    other.count_write("create", replayed=True)
    other.flush()
    (tmp_path / "other" / f"{os.getpid()}.json").rename(tmp_path / "4194304.json")
    mine = Metrics(tmp_path)
    mine.observe("GET", "/api/items", "200", 0.002)
    totals, processes = mine.totals()
    assert processes == 2
    assert totals["requests"] == {"GET /api/items 200": 2}
    text = render_prometheus(totals, processes, last_seq=None)
    assert 'harness_http_requests_total{method="GET",route="/api/items",status="200"} 2' in text
    assert 'harness_writes_total{op="create",replayed="true"} 1' in text
    assert "harness_storage_up 0" in text
