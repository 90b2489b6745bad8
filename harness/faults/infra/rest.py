"""The one small HTTP client the faults use: a request, its status and body, nothing more.

Patroni's REST API, Toxiproxy's API and a scenario's webhook are all reached through
`send`. It talks to exactly the URL given (no proxy from the environment, no redirects
followed: a fault acts where the scenario says), sends JSON when given a value, and raises
`Unreachable` when no answer came; each fault turns that and an unwanted status into its
own FaultError. TCP_NODELAY: these are small request/response exchanges, and Nagle's delay
would add 40 ms to each on loopback.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class Unreachable(Exception):
    """No HTTP answer: connection refused, timed out, or not HTTP."""


@dataclass(frozen=True)
class Reply:
    """One HTTP answer."""

    status: int
    raw: bytes

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced), stripped."""
        return self.raw.decode("utf-8", errors="replace").strip()

    def json(self) -> object:
        """The body as JSON; None when empty, the text when it is not JSON."""
        if not self.raw.strip():
            return None
        try:
            return json.loads(self.raw)
        except ValueError:
            return self.text


def send(
    url: str,
    method: str,
    path: str = "",
    *,
    body: bytes | None = None,
    json_body: object = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
    max_bytes: int | None = None,
) -> Reply:
    """`method` on `url` + `path` (http or https); `json_body` is sent as JSON. At most
    `max_bytes` of the body are read when set. Raises Unreachable when nothing answered."""
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = path or (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent_headers = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent_headers.setdefault("Content-Type", "application/json")
    conn = cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.request(method, target, body=body, headers=sent_headers)
        response = conn.getresponse()
        raw = response.read() if max_bytes is None else response.read(max_bytes)
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(str(exc) or type(exc).__name__) from None
    finally:
        conn.close()
    return Reply(response.status, raw)
