"""The caller's profile, /metrics, and the admin operations on the edge cache and keyring."""

from __future__ import annotations

from typing import Any, Protocol

import falcon

from harness.service.metrics import Metrics, render_prometheus
from harness.service.rbac import ROLES
from harness.service.resources.common import (
    ApiError,
    bad_request,
    invalid_field,
    read_json_object,
    send_json,
)
from harness.service.statements import StatementTimer
from harness.service.storage import Storage, StorageUnavailable
from harness.service.tokens import MAX_TOKEN_TTL_S, Keyring


class EdgeCacheOps(Protocol):
    """What the admin routes need from the edge cache."""

    def stats(self) -> dict[str, Any]:
        """Hit/miss/stale/bypass counters."""

    def purge(self) -> int:
        """Drop every cached entry; how many."""


class Me:
    """GET /api/me: who the token says the caller is."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The caller's subject, role, permissions and token ids."""
        auth = req.context.auth
        send_json(
            resp,
            {
                "sub": auth.sub,
                "role": auth.role,
                "permissions": sorted(auth.permissions),
                "kid": auth.kid,
                "jti": auth.jti,
            },
        )


class MetricsPage:
    """GET /metrics: Prometheus text summed over every worker process."""

    def __init__(self, metrics: Metrics, storage: Storage, edge: EdgeCacheOps, auth: Any) -> None:
        self.metrics = metrics
        self.storage = storage
        self.edge = edge
        self.auth = auth

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Counters: requests, latency, writes, storage, CDN, auth."""
        try:
            last_seq: int | None = self.storage.last_seq()
        except StorageUnavailable:
            last_seq = None
        auth_stats = getattr(self.auth, "auth_stats", None)
        totals, processes = self.metrics.totals()
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8"
        resp.text = render_prometheus(
            totals,
            processes,
            last_seq=last_seq,
            cdn_stats=self.edge.stats(),
            auth_stats=auth_stats() if callable(auth_stats) else None,
        )


class Statements:
    """GET /admin/statements: every SQL statement the service ran, per route, summed over
    its worker processes (counters since the service started; docs/profiling.md)."""

    def __init__(self, timer: StatementTimer, *, enabled: bool) -> None:
        self.timer = timer
        self.enabled = enabled

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """`{"enabled", "processes", "statements": [...]}`, the most total time first."""
        statements, processes = self.timer.totals() if self.enabled else ([], 0)
        send_json(resp, {"enabled": self.enabled, "processes": processes, "statements": statements})


class CdnStats:
    """GET /admin/cdn/stats: the edge cache's counters."""

    def __init__(self, edge: EdgeCacheOps) -> None:
        self.edge = edge

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Counters summed over every worker process."""
        send_json(resp, self.edge.stats())


class CdnPurge:
    """POST /admin/cdn/purge: drop every cached entry, in every worker process."""

    def __init__(self, edge: EdgeCacheOps) -> None:
        self.edge = edge

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """How many entries this process dropped."""
        send_json(resp, {"purged": self.edge.purge()})


class KeysRotate:
    """POST /admin/keys/rotate: a new active signing key; old tokens keep verifying."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The new key's kid."""
        send_json(resp, {"kid": self.keyring.rotate()})


class TokensRevoke:
    """POST /admin/tokens/revoke {"jti": ...} or {"kid": ...}."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Refuse one token (jti) or every token of a key (kid) from now on."""
        body = read_json_object(req)
        jti, kid = body.get("jti"), body.get("kid")
        for name, value in (("jti", jti), ("kid", kid)):
            if value is not None and (not isinstance(value, str) or not value):
                raise invalid_field(name, "expected a non-empty string")
        if jti is None and kid is None:
            raise bad_request("invalid_field", "expected a jti or a kid", field="jti")
        try:
            self.keyring.revoke(jti=jti, kid=kid)
        except ValueError as exc:
            raise ApiError(falcon.HTTP_404, "not_found", str(exc)) from None
        send_json(resp, {"revoked": {"jti": jti, "kid": kid}})


class TokensIssue:
    """POST /admin/tokens {"role", "sub", "ttl_s"} -> {"token"}."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """A signed token for the role."""
        body = read_json_object(req)
        role, sub, ttl_s = body.get("role"), body.get("sub"), body.get("ttl_s", 3600)
        if role not in ROLES:
            raise invalid_field("role", f"expected one of {', '.join(ROLES)}")
        if not isinstance(sub, str) or not 1 <= len(sub) <= 200:
            raise invalid_field("sub", "expected a string of 1..200 characters")
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float):
            raise invalid_field("ttl_s", "expected a number of seconds")
        if not 1 <= ttl_s <= MAX_TOKEN_TTL_S:  # false for nan and inf; exact for huge ints
            raise invalid_field("ttl_s", f"expected 1..{MAX_TOKEN_TTL_S} seconds")
        token = self.keyring.issue(role, sub, ttl_s=ttl_s)
        send_json(resp, {"token": token, "role": role, "sub": sub, "ttl_s": ttl_s}, falcon.HTTP_201)
