"""What every resource shares: JSON answers, JSON errors, request-body and parameter parsing."""

from __future__ import annotations

import json
from typing import Any

import falcon

from harness.service.text import unstorable_text

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_JSON_DEPTH = 32
"""Nesting a request body may have: ours are at most 2 deep; Python's parser fails at ~1000."""


class ApiError(falcon.HTTPError):
    """An error answered as `{"error": code, "message": ..., **extra}` with `status`."""

    def __init__(self, status: str, code: str, message: str, **extra: Any) -> None:
        super().__init__(status, title=code, description=message)
        self.error = code
        self.message = message
        self.extra = extra

    def to_dict(self, obj_type: type[Any] = dict) -> Any:
        """The JSON body (Falcon calls this through the app's error serializer)."""
        obj = obj_type()
        obj["error"] = self.error
        obj["message"] = self.message
        obj.update(self.extra)
        return obj


def bad_request(code: str, message: str, **extra: Any) -> ApiError:
    """A 400 naming what was wrong."""
    return ApiError(falcon.HTTP_400, code, message, **extra)


def invalid_field(field: str, message: str) -> ApiError:
    """A 400 for one field of a request body or query."""
    return ApiError(falcon.HTTP_400, "invalid_field", f"{field}: {message}", field=field)


def send_json(resp: falcon.Response, body: Any, status: str = falcon.HTTP_200) -> None:
    """Answer `body` as compact JSON."""
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(body, separators=(",", ":"))


def read_json_object(req: falcon.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying why it is not one."""
    length = req.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise ApiError(
            falcon.HTTP_413, "body_too_large", f"request body over {MAX_BODY_BYTES} bytes"
        )
    raw = _read_body(req, MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(
            falcon.HTTP_413, "body_too_large", f"request body over {MAX_BODY_BYTES} bytes"
        )
    if not raw.strip():
        raise bad_request("invalid_json", "expected a JSON object body, got an empty body")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("invalid_json", f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad_request("invalid_json", _too_deep_message()) from None
    if not isinstance(body, dict):
        raise bad_request("invalid_json", f"expected a JSON object, got {type(body).__name__}")
    ensure_plain_json(body)
    return body


def _read_body(req: falcon.Request, limit: int) -> bytes:
    """Up to `limit` bytes of the body. A chunked body has no Content-Length, and Falcon's
    bounded stream reads such a body as empty, so it is read from the server's stream (which
    decodes the chunks) until it ends or passes `limit`."""
    if (
        req.content_length is not None
        or "chunked" not in (req.get_header("Transfer-Encoding") or "").lower()
    ):
        return req.bounded_stream.read(limit)
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = req.stream.read(min(65536, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _too_deep_message() -> str:
    return f"body nests deeper than {MAX_JSON_DEPTH} levels"


def ensure_plain_json(body: Any) -> None:
    """A 400 unless `body` nests at most MAX_JSON_DEPTH deep and all its text can be stored
    (`unstorable_text`), naming where it was (`name`, `keys[1]`). Walked without recursion,
    so depth cannot hurt.
    """
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise bad_request("invalid_json", _too_deep_message(), field=where)
        if isinstance(value, str):
            problem = unstorable_text(value)
            if problem is not None:
                raise bad_request("invalid_json", f"{where or 'body'}: {problem[1]}", field=where)
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else key
                stack.append((key, path, depth + 1))
                stack.append((item, path, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))


def int_param(req: falcon.Request, name: str, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter within [minimum, maximum], or a 400 naming it."""
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(
            "bad_parameter", f"{name} must be an integer, got {raw!r}", field=name
        ) from None
    if not minimum <= value <= maximum:
        raise bad_request(
            "bad_parameter", f"{name} must be in {minimum}..{maximum}, got {value}", field=name
        )
    return value
