"""The `lookup` adapter: `POST /api/writes/lookup` on the target, the reference service's API.

`{"keys": [...]}` → `{"found": {key: seq}}`, at most 10,000 keys a request, through the
target's front door with a token holding `writes:verify`, retrying while the target does not
answer or answers 5xx/429, until the deadline. Any other answer fails the read-back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gevent

from harness.runner import http
from harness.runner.readback.core import Checked, Entries, ReadbackError

LOOKUP_PATH = "/api/writes/lookup"
BATCH_KEYS = 10_000
RETRY_EVERY_S = 0.5
REQUEST_TIMEOUT_S = 10.0


@dataclass
class LookupAdapter:
    """Asks the reference service's lookup API (see the module docstring)."""

    base_url: str
    token: str | None
    send: Callable[..., http.Answer] = http.request
    retry_every_s: float = RETRY_EVERY_S
    name: str = "lookup"

    def check(self, entries: Entries, deadline: float) -> Checked:
        """Present keys with their seq; the others are lost."""
        if self.token is None:
            raise ReadbackError(
                "no token holding writes:verify (set HARNESS_TOKEN_SERVICE or _ADMIN)"
            )
        timeout_s = max(0.0, deadline - time.monotonic())
        found = lookup_all(self.base_url, self.token, list(entries), timeout_s, self.send,
                           self.retry_every_s)  # fmt: skip
        return Checked(present=dict(found))


def lookup_all(
    base_url: str,
    token: str,
    keys: Sequence[str],
    timeout_s: float,
    send: Callable[..., http.Answer] = http.request,
    retry_every_s: float = RETRY_EVERY_S,
) -> dict[str, int]:
    """{key: seq} for every key the target has; ReadbackError when it never answers."""
    url = http.resolve(base_url, LOOKUP_PATH)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    deadline = time.monotonic() + timeout_s
    found: dict[str, int] = {}
    for start in range(0, len(keys), BATCH_KEYS):
        body = json.dumps({"keys": list(keys[start : start + BATCH_KEYS])}).encode()
        while True:
            answer = send(url, "POST", body=body, headers=headers, timeout_s=REQUEST_TIMEOUT_S)
            if answer.status == 200:
                found.update(_found(answer.body))
                break
            if answer.status is not None and answer.status < 500 and answer.status != 429:
                raise ReadbackError(f"{LOOKUP_PATH} answered {answer.status}: {_text(answer)}")
            if time.monotonic() + retry_every_s > deadline:
                raise ReadbackError(
                    f"the target did not answer {LOOKUP_PATH} within {timeout_s:g}s "
                    f"(last: {answer.summary()})"
                )
            gevent.sleep(retry_every_s)
    return found


def _found(body: bytes) -> dict[str, int]:
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise ReadbackError(f"{LOOKUP_PATH} answered 200 without JSON") from None
    found = data.get("found") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        raise ReadbackError(f'{LOOKUP_PATH} answered 200 without a "found" object')
    return {str(key): int(seq) for key, seq in found.items()}


def _text(answer: http.Answer) -> str:
    return answer.body[:200].decode("utf-8", errors="replace").strip() or "(no body)"
