"""The admin API GET against a loopback server of the test's own: the bearer token is sent,
a non-200 answer and a body that is not a JSON object are errors naming the path."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from harness.admin_api import admin_get, admin_get_object
from tests.loopback_target import QuietHandler, serving

ANSWERS = {"/object": (200, {"hits": 3}), "/list": (200, [1, 2]), "/secret": (403, {})}


class _Admin(QuietHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status, payload = ANSWERS.get(self.path, (404, {}))
        if self.headers.get("Authorization") != "Bearer tok":
            status, payload = 401, {}
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving(_Admin) as base:
        yield base


def test_an_object_is_read_with_the_bearer_token(url: str) -> None:
    assert admin_get_object(url, "/object", "tok", 5.0) == {"hits": 3}
    assert json.loads(admin_get(url, "/list", "tok", 5.0)) == [1, 2]


@pytest.mark.parametrize(
    ("path", "token", "message"),
    [
        ("/secret", "tok", "GET /secret answered 403"),
        ("/object", "other", "GET /object answered 401"),
        ("/list", "tok", "GET /list did not answer a JSON object"),
    ],
)
def test_a_wrong_answer_is_a_value_error_naming_the_path(
    url: str, path: str, token: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        admin_get_object(url, path, token, 5.0)


def test_no_service_is_an_os_error() -> None:
    with pytest.raises(OSError):
        admin_get("http://127.0.0.1:9", "/object", "tok", 2.0)
