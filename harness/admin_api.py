"""A GET from the reference service's admin API: a bearer token, one fresh connection.

Both the load (the service's CDN and access counters at the end of a run) and profiling
(its statement table at either edge of the measured window) read the service this way;
they may not import each other, so the request lives here, beside neither.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit


def admin_get(base_url: str, path: str, token: str, timeout_s: float) -> bytes:
    """The body of `GET path` (bearer `token`); ValueError unless it answers 200, OSError
    when the service cannot be reached."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        reply = conn.getresponse()
        body = reply.read()
    finally:
        conn.close()
    if reply.status != 200:
        raise ValueError(f"GET {path} answered {reply.status}")
    return body


def admin_get_object(base_url: str, path: str, token: str, timeout_s: float) -> dict[str, Any]:
    """The JSON object `GET path` answers; ValueError when it is not one (see `admin_get`)."""
    data = json.loads(admin_get(base_url, path, token, timeout_s))
    if not isinstance(data, dict):
        raise ValueError(f"GET {path} did not answer a JSON object")
    return data
