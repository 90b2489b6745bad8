"""Read back every acknowledged write after recovery: `readback.json`, the input of RPO.

The ledger reaches the master with the workers' seconds, so the read-back first waits
(bounded) until every live worker has shipped past the moment it began; `checked_at` is
the time up to which the ledger is then complete. Every key acknowledged by then is looked
up with `POST /api/writes/lookup` (at most 10,000 keys a request) through the target's
front door with a token holding `writes:verify`, retrying while the target does not answer
or answers 5xx, until `timeout_s`. The file is exactly docs/scenarios.md's:
`{"checked_at", "present": {key: seq}}`, or `{"checked_at", "error"}`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gevent

from harness.analysis.data_loss import READBACK
from harness.rundir import RunDir, iter_jsonl, write_json_atomic
from harness.runner import http

LOOKUP_PATH = "/api/writes/lookup"
BATCH_KEYS = 10_000
LEDGER_WAIT_S = 5.0
RETRY_EVERY_S = 0.5
REQUEST_TIMEOUT_S = 10.0


class _Live(Protocol):
    def flush(self) -> None: ...

    def ledger_through_t(self) -> float: ...


class ReadbackError(Exception):
    """The read-back could not be completed; recorded in readback.json as `error`."""


@dataclass(frozen=True)
class Readback:
    """What the read-back found: checked keys, present ones, or the error."""

    checked_at: float
    checked: int
    present: int
    error: str | None = None

    @property
    def missing(self) -> int:
        """Checked keys the target no longer has."""
        return self.checked - self.present

    def detail(self) -> str:
        """One line for the `readback` event."""
        if self.error is not None:
            return f"read-back failed: {self.error}"
        return f"{self.checked} acknowledged writes checked: {self.missing} missing"


def ledger_keys(ledger: Path, checked_at: float) -> list[str]:
    """Keys of writes acknowledged up to `checked_at`, each once, in ledger order."""
    keys: dict[str, None] = {}
    for record in iter_jsonl(ledger):
        key, t_ack = record.get("key"), record.get("t_ack")
        if isinstance(key, str) and isinstance(t_ack, int | float) and t_ack <= checked_at:
            keys[key] = None
    return list(keys)


def wait_for_ledger(live: _Live, since_t: float, wait_s: float = LEDGER_WAIT_S) -> float:
    """Flush until the ledger is complete up to `since_t` (bounded); the time it is complete to."""
    deadline = time.monotonic() + wait_s
    while True:
        live.flush()
        through_t = live.ledger_through_t()
        if through_t >= since_t or time.monotonic() >= deadline:
            return min(through_t, since_t)
        gevent.sleep(0.1)


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


def read_back(
    live: _Live,
    base_url: str,
    token: str | None,
    timeout_s: float,
    run_dir: Path,
    send: Callable[..., http.Answer] = http.request,
) -> Readback:
    """Look every acknowledged write up and write readback.json (see the module docstring)."""
    checked_at = wait_for_ledger(live, time.time())
    keys = ledger_keys(RunDir(run_dir).ledger, checked_at)
    try:
        if not keys:
            found: dict[str, int] = {}
        elif token is None:
            raise ReadbackError(
                "no token holding writes:verify (set HARNESS_TOKEN_SERVICE or _ADMIN)"
            )
        else:
            found = lookup_all(base_url, token, keys, timeout_s, send)
    except ReadbackError as exc:
        write_json_atomic(run_dir / READBACK, {"checked_at": checked_at, "error": str(exc)})
        return Readback(checked_at, len(keys), 0, str(exc))
    write_json_atomic(run_dir / READBACK, {"checked_at": checked_at, "present": found})
    return Readback(checked_at, len(keys), len(found))


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
