"""Hostile and careless input against the whole app, in process: every answer is a 4xx JSON
error naming the problem, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from harness.service.app import create_app
from harness.service.config import ServiceConfig
from harness.service.tokens import Keyring

Call = Callable[..., falcon.testing.Result]
ITEM = {"name": "Kettle", "category": "kitchen", "price": 3.5, "quantity": 1}


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> Call:
    """`call(method, path, role=..., body=..., headers=...)` on one app over 30 items."""
    data_dir: Path = tmp_path_factory.mktemp("bad-input")
    client = falcon.testing.TestClient(create_app(ServiceConfig(data_dir=data_dir, seed_items=30)))
    keyring = Keyring(data_dir)
    tokens = {role: keyring.issue(role, f"t-{role}") for role in ("admin", "user", "viewer")}
    keys = iter(range(1_000_000))

    def request(
        method: str,
        path: str,
        role: str = "admin",
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> falcon.testing.Result:
        sent = {"Authorization": f"Bearer {tokens[role]}", "Content-Type": "application/json"}
        if method in ("POST", "PATCH", "DELETE") and path.startswith("/api/items"):
            sent["Idempotency-Key"] = f"bad-input-{next(keys)}"
        sent.update(headers or {})
        return client.simulate_request(method, path, body=body, headers=sent)

    return request


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _refused(result: falcon.testing.Result, code: str, field: str | None = None) -> Any:
    assert 400 <= result.status_code < 500, (result.status_code, result.text)
    body = result.json
    assert body["error"] == code, body
    assert body["message"]
    if field is not None:
        assert body.get("field") == field, body
    return body


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/items"), ("PATCH", "/api/items/1")])
def test_a_deeply_nested_body_is_a_400(call: Call, method: str, path: str) -> None:
    body = _refused(call(method, path, "user", "[" * 100_000), "invalid_json")
    assert "nest" in body["message"]
    _refused(call(method, path, "user", '{"name":' + "[" * 40 + "]" * 40 + "}"), "invalid_json")


@pytest.mark.parametrize(
    ("sort", "raw"),
    [
        ("price", '["price",{"a":1},5]'),
        ("price", '["price","cheap",5]'),
        ("name", '["name",12,5]'),
        ("quantity", '["quantity",1.5,5]'),
        ("quantity", '["quantity",true,5]'),
        ("id", json.dumps(["id", 1, 2**70])),
        ("id", json.dumps(["id", 2**70, 1])),
        ("id", '["id",1,-4]'),
        ("name", '["name",' + "[" * 5000 + "]" * 5000 + ",1]"),
        ("name", '["name","\\ud800",1]'),
        ("name", '["name","x"]'),
        ("name", '{"name":"x"}'),
    ],
)
def test_a_forged_cursor_is_a_400(call: Call, sort: str, raw: str) -> None:
    result = call("GET", f"/api/items?sort={sort}&cursor={_cursor(raw)}", "viewer")
    _refused(result, "bad_cursor")


def test_a_real_cursor_still_walks_the_listing(call: Call) -> None:
    for sort in ("price", "-name", "quantity", "id", "created_at", "status"):
        first = call("GET", f"/api/items?sort={sort}&limit=7", "viewer").json
        second = call("GET", f"/api/items?sort={sort}&limit=7&cursor={first['next_cursor']}")
        assert second.status_code == 200, second.text
        seen = {item["id"] for item in first["items"]}
        assert seen and not seen & {item["id"] for item in second.json["items"]}


@pytest.mark.parametrize("field", ["name", "category"])
def test_a_lone_surrogate_in_text_is_a_400_naming_the_field(call: Call, field: str) -> None:
    created = json.dumps(ITEM | {field: "a\ud800b"})
    _refused(call("POST", "/api/items", "user", created), "invalid_json", field)
    changed = json.dumps({field: "\udfff"})
    _refused(call("PATCH", "/api/items/2", "user", changed), "invalid_json", field)


def test_a_lone_surrogate_anywhere_in_a_body_names_where(call: Call) -> None:
    body = _refused(
        call("POST", "/api/writes/lookup", body='{"keys":["a","\\ud800"]}'), "invalid_json"
    )
    assert body["field"] == "keys[1]"


def test_token_issue_refuses_a_huge_integer_ttl_and_a_surrogate_sub(call: Call) -> None:
    huge = '{"role":"user","sub":"x","ttl_s":1' + "0" * 400 + "}"
    _refused(call("POST", "/admin/tokens", body=huge), "invalid_field", "ttl_s")
    _refused(
        call("POST", "/admin/tokens", body='{"role":"user","sub":"x","ttl_s":1e400}'),
        "invalid_field",
        "ttl_s",
    )
    _refused(
        call("POST", "/admin/tokens", body='{"role":"user","sub":"\\ud800"}'), "invalid_json", "sub"
    )
    assert call("POST", "/admin/tokens", body='{"role":"user","sub":"ok"}').status_code == 201


def _series(call: Call, family: str) -> set[str]:
    text = call("GET", "/metrics").text
    return {line.split("} ")[0] for line in text.splitlines() if line.startswith(family + "{")}


@pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")  # what this test sends
def test_made_up_methods_and_paths_add_no_metric_series(call: Call) -> None:
    for i in range(5):  # the same label set each time, so the series exist before counting
        call(f"BREW{i}", "/api/items")
        call("GET", f"/no/such/path/{i}")
    call("GET", "/metrics")
    before = _series(call, "harness_http_requests_total")
    for i in range(5, 200):
        call(f"BREW{i}", "/api/items")
        call("GET", f"/no/such/path/{i}")
    after = _series(call, "harness_http_requests_total")
    assert after == before
    assert 'harness_http_requests_total{method="other",route="/api/items",status="405"' in after
    assert 'harness_http_requests_total{method="GET",route="other",status="404"' in after


@pytest.mark.parametrize(
    "path",
    ["/static/app.css?bust=1", "/pages/about?v=2", "/?utm=x", "/api/items?limt=5",
     "/api/items/1?expand=all", "/api/items/bulk?ids=1&x=", "/admin/audit?since=3"],
)  # fmt: skip
def test_an_unknown_query_parameter_is_a_400_naming_it(call: Call, path: str) -> None:
    body = _refused(call("GET", path), "unknown_parameter")
    assert body["field"] == path.rsplit("&", 1)[-1].split("?")[-1].split("=")[0]


def test_routes_that_never_read_a_query_leave_it_alone(call: Call) -> None:
    for path in ("/healthz?token=x", "/readyz?probe=1", "/api/me?x=1", "/metrics?x=%00"):
        assert call("GET", path).status_code == 200, path


def test_a_repeated_query_parameter_is_a_400(call: Call) -> None:
    _refused(call("GET", "/api/items?limit=5&limit=6"), "bad_parameter", "limit")


def test_spellings_of_one_query_share_one_edge_cache_entry(call: Call) -> None:
    entries = call("GET", "/admin/cdn/stats").json["entries"]
    spellings = ["/static/app.css", "/static/app.css?", "/api/items?limit=5&sort=-price"]
    spellings += ["/api/items?sort=-price&limit=5", "/api/items?&limit=5&&sort=-price&"]
    spellings += [f"/api/items?limit=5{'&' * i}&sort=-price" for i in range(50)]
    for path in spellings:
        assert call("GET", path, "viewer").status_code == 200, path
    assert call("GET", "/admin/cdn/stats").json["entries"] == entries + 2


def test_a_nul_character_is_refused_wherever_text_comes_in(call: Call) -> None:
    """PostgreSQL cannot keep U+0000 in text, so no backend is handed one."""
    _refused(call("POST", "/api/items", "user", json.dumps(ITEM | {"name": "a\x00b"})),
             "invalid_json", "name")  # fmt: skip
    _refused(call("POST", "/api/writes/lookup", body='{"keys":["\\u0000"]}'), "invalid_json")
    _refused(call("GET", "/admin/audit?sub=%00"), "bad_parameter", "sub")
    _refused(call("GET", "/api/items?filter=name%3D%22a%00%22", "viewer"), "bad_parameter")
    nul_name = _cursor('["name","a\\u0000",1]')
    _refused(call("GET", f"/api/items?sort=name&cursor={nul_name}", "viewer"), "bad_cursor")
