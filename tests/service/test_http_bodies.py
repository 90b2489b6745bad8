"""Request bodies over real HTTP (granian): chunked transfer coding is read like a
Content-Length body, under the same size limit."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable, Iterator

import pytest

from harness.service.resources.common import MAX_BODY_BYTES
from harness.service.server import ServiceProcess

pytestmark = pytest.mark.e2e


def _chunked_post(
    service: ServiceProcess, token: str, path: str, chunks: Iterator[bytes]
) -> tuple[int, dict[str, str], object]:
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": f"chunked-{uuid.uuid4()}",
        "Transfer-Encoding": "chunked",
    }
    try:
        conn.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        raw = response.read()
        answer = {name.lower(): value for name, value in response.getheaders()}
    finally:
        conn.close()
    return response.status, answer, json.loads(raw) if raw else None


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_post_is_read_whole(
    service: ServiceProcess, token_for: Callable[[str], str]
) -> None:
    item = {"name": "Chunked Kettle", "category": "kitchen", "price": 12.5, "quantity": 3}
    status, _, body = _chunked_post(
        service, token_for("user"), "/api/items", _pieces(json.dumps(item).encode(), 7)
    )
    assert status == 201, body
    assert isinstance(body, dict) and body["item"]["name"] == "Chunked Kettle"
    lookup = json.dumps({"keys": ["a", "b"]}).encode()
    status, _, found = _chunked_post(
        service, token_for("service"), "/api/writes/lookup", _pieces(lookup, 3)
    )
    assert status == 200 and found == {"found": {}, "missing": ["a", "b"]}


def test_a_chunked_body_over_the_limit_is_a_413(
    service: ServiceProcess, token_for: Callable[[str], str]
) -> None:
    too_big = b'{"name":"' + b"x" * MAX_BODY_BYTES + b'"}'
    status, _, body = _chunked_post(
        service, token_for("user"), "/api/items", _pieces(too_big, 65536)
    )
    assert status == 413 and isinstance(body, dict) and body["error"] == "body_too_large"


def test_an_empty_chunked_body_is_a_400(
    service: ServiceProcess, token_for: Callable[[str], str]
) -> None:
    status, _, body = _chunked_post(service, token_for("user"), "/api/items", iter([]))
    assert status == 400 and isinstance(body, dict) and "empty body" in body["message"]
