"""The attacker of the Security Breach scenario: a leaked signing key, used for real.

`steal_active_key` reads the active key from `<data>/keys.json`, as someone with a copy of
that file would. `Attacker` then forges admin tokens with PyJWT (the same claims a real
token carries: issuer, audience, `kid` header, its own `sub` and a random `jti`) and sends
a bounded, paced loop of requests that read and destroy data through the router: the write
log (`GET /admin/audit`), item updates and deletes, edge-cache purges. Every request is
one record (`attack.jsonl`, docs/scenarios.md): send time, operation, status, `ok` (2xx).

Bounded twice: at most `max_requests`, and no longer than `max_duration_s`; `stop()` ends
it sooner. Loopback targets only.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from harness.faults.dr.common import ensure_loopback, http_request
from harness.service import keystore
from harness.service.tokens import ALGORITHM, AUDIENCE, ISSUER

AUDIT = "GET /admin/audit"
PATCH = "PATCH /api/items/{item_id}"
DELETE = "DELETE /api/items/{item_id}"
PURGE = "POST /admin/cdn/purge"
ATTACK_OPS: tuple[str, ...] = (AUDIT, PATCH, DELETE, PURGE)
"""What the attacker does, in turn: read the write log, change and delete items, purge."""


@dataclass(frozen=True)
class LeakedKey:
    """A signing key as the attacker holds it (the secret is never shown by repr)."""

    kid: str
    secret: bytes = field(repr=False)
    leaked_t: float


def steal_active_key(data_dir: Path, clock: Callable[[], float] = time.time) -> LeakedKey:
    """Read the active signing key out of `<data_dir>/keys.json`."""
    keys = keystore.read_keys(Path(data_dir) / "keys.json")
    active = [key for key in keys if key.status == "active"]
    if not active:
        raise ValueError(f"{data_dir / 'keys.json'} has no active key")
    return LeakedKey(active[-1].kid, active[-1].secret, clock())


def forge_token(key: LeakedKey, role: str, sub: str, ttl_s: int = 300) -> tuple[str, str]:
    """A token the service cannot tell from one it issued, except that it never issued
    it; returns (token, jti)."""
    now = int(time.time())
    jti = secrets.token_urlsafe(12)
    claims = {
        "sub": sub,
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": jti,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid}), jti


@dataclass(frozen=True)
class AttackPlan:
    """How hard and how long the attacker tries."""

    role: str = "admin"
    sub: str = "intruder"
    rate_per_s: float = 20.0
    max_duration_s: float = 120.0
    ops: tuple[str, ...] = ATTACK_OPS
    item_ids: tuple[int, int] = (1, 1)
    timeout_s: float = 2.0
    seed: int | None = None

    @property
    def max_requests(self) -> int:
        """The loop's bound in requests."""
        return max(1, int(self.rate_per_s * self.max_duration_s) + 1)


class Attacker:
    """Sends forged requests to `url` in a background thread; `records` keeps them all."""

    def __init__(
        self,
        url: str,
        key: LeakedKey,
        plan: AttackPlan,
        record: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        ensure_loopback(url, "security_breach")
        self.url = url.rstrip("/")
        self.key = key
        self.plan = plan
        self.records: list[dict[str, Any]] = []
        self.error: str | None = None
        """Why the loop ended early, if it broke."""
        self._record = record
        self._rng = random.Random(plan.seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="attacker", daemon=True)

    def start(self) -> None:
        """Start attacking."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the request in flight; waits for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # kept for the fault to report at clear
            self.error = f"{type(exc).__name__}: {exc}"

    def _loop(self) -> None:
        plan = self.plan
        interval_s = 1.0 / plan.rate_per_s
        deadline = time.monotonic() + plan.max_duration_s
        next_t = time.monotonic()
        for index in range(plan.max_requests):
            wait_s = next_t - time.monotonic()
            if wait_s > 0 and self._stop.wait(wait_s):
                return
            if self._stop.is_set() or time.monotonic() >= deadline:
                return
            self._send(plan.ops[index % len(plan.ops)])
            next_t = max(next_t + interval_s, time.monotonic())

    def _send(self, op: str) -> None:
        token, jti = forge_token(self.key, self.plan.role, self.plan.sub)
        method, template = op.split(" ", 1)
        item_id = self._rng.randint(*self.plan.item_ids)
        path = template.replace("{item_id}", str(item_id))
        headers = {"Authorization": f"Bearer {token}"}
        body = None
        if op == AUDIT:
            path += "?limit=20"
        elif method in ("PATCH", "DELETE"):
            headers["Idempotency-Key"] = f"attack-{uuid.uuid4()}"
        if op == PATCH:
            body = json.dumps({"name": f"pwned-{jti[:8]}", "price": 0.01}).encode()
            headers["Content-Type"] = "application/json"
        sent_t = time.time()
        answer = http_request(
            self.url, method, path, headers=headers, body=body, timeout_s=self.plan.timeout_s
        )
        status = answer.status
        entry: dict[str, Any] = {
            "t": sent_t,
            "op": op,
            "path": path,
            "ok": status is not None and 200 <= status < 300,
            "status": status,
            "kid": self.key.kid,
            "jti": jti,
            "sub": self.plan.sub,
            "latency_ms": answer.latency_ms,
        }
        if answer.error is not None:
            entry["error"] = answer.error
        self.records.append(entry)
        if self._record is not None:
            self._record(entry)


def counts(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Totals of an attack: requests, successes, refusals (401), last success time."""
    ok_times = [float(r["t"]) for r in records if r.get("ok")]
    return {
        "forged_requests": len(records),
        "forged_ok": len(ok_times),
        "refused_401": sum(1 for r in records if r.get("status") == 401),
        "last_ok_t": max(ok_times) if ok_times else None,
    }
