"""One HTTP request at a time, for the runner's probe and read-back (never raises).

A fresh connection per request with Nagle off (the project's rule for every socket it
owns), a timeout on everything, loopback or not: the target is whatever the scenario names.
Under the load engine's gevent patching these calls yield instead of blocking.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit


@dataclass(frozen=True)
class Answer:
    """A request's outcome: `status` None when no answer came (then `error` says why)."""

    status: int | None
    body: bytes
    error: str | None
    took_s: float

    def summary(self) -> str:
        """One short line: `200`, `503`, or the error."""
        return str(self.status) if self.status is not None else str(self.error)


def resolve(base_url: str, url_or_path: str) -> str:
    """An absolute URL as is, or a path (`/readyz`) on `base_url`."""
    if url_or_path.startswith("/"):
        return urljoin(base_url.rstrip("/") + "/", url_or_path.lstrip("/"))
    return url_or_path


def request(
    url: str,
    method: str = "GET",
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 2.0,
) -> Answer:
    """Send one request to the absolute `url`; the answer or the reason there was none."""
    parts = urlsplit(url)
    started = time.monotonic()
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = connection_class(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, data, None, time.monotonic() - started)
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Answer(None, b"", f"{type(exc).__name__}: {reason}", time.monotonic() - started)
    finally:
        conn.close()
