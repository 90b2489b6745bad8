"""Falcon middleware that authenticates and authorizes every request against `ROUTES`.

Order of decisions in `process_resource`:
1. The (method, URI template) pair must be in the route table. A template the table does
   not know is a 404; a known template with a method the table does not list is a 405.
   Anything the app routes but the table forgets is therefore refused (fail closed).
2. Public routes pass without looking at credentials.
3. Otherwise an `Authorization: Bearer <jwt>` header must carry a token the keyring
   verifies (401 otherwise), whose role holds the route's permission (403 otherwise).
   The caller's `RequestContext` is set as `req.context.auth`.

Outcomes are counted per process in shared memory (`<data_dir>/auth/<pid>.counters`), so
`auth_stats()` reports totals across every worker process.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

import falcon

from harness.service.rbac import RequestContext, forbidden, methods_for, route_for, unauthorized
from harness.service.shared_state import SharedCounters
from harness.service.tokens import TOKEN_ERROR_REASONS, Claims, Keyring, TokenError

_OUTCOMES: tuple[str, ...] = ("public", "allowed", "unauthorized", "forbidden", "not_routed")
MAX_CONTEXTS = 10_000
"""Request contexts remembered per verified claims (all dropped when full)."""
COUNTER_NAMES: tuple[str, ...] = _OUTCOMES + tuple(f"401_{r}" for r in TOKEN_ERROR_REASONS)
"""Slots of the auth counter files: outcomes, then 401s by token error reason."""


class AuthMiddleware:
    """Authenticate and authorize each request before any responder or cache answers it.

    Counters live in `state_dir` (default `<keyring.data_dir>/auth`).
    """

    def __init__(self, keyring: Keyring, state_dir: Path | None = None) -> None:
        self.keyring = keyring
        self.state_dir = Path(state_dir) if state_dir is not None else keyring.data_dir / "auth"
        self._counters = SharedCounters(self.state_dir, COUNTER_NAMES)
        self._slot = {name: self._counters.index(name) for name in COUNTER_NAMES}
        self._contexts: dict[Claims, RequestContext] = {}
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reopen_after_fork(ref))

    def _reopen(self) -> None:
        self._counters = SharedCounters(self.state_dir, COUNTER_NAMES)

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: Any
    ) -> None:
        """Refuse the request (404/405/401/403) or set `req.context.auth`."""
        route = route_for(req.method, req.uri_template)
        if route is None:
            self._counters.add_at(self._slot["not_routed"])
            allowed = methods_for(req.uri_template)
            if allowed:
                raise falcon.HTTPMethodNotAllowed(list(allowed))
            raise falcon.HTTPNotFound()
        if route.permission is None:
            req.context.auth = None
            self._counters.add_at(self._slot["public"])
            return
        try:
            claims = self.keyring.verify(_bearer_token(req))
        except TokenError as exc:
            self._counters.add_at(self._slot["unauthorized"])
            self._counters.add_at(self._slot[f"401_{exc.reason}"])
            raise unauthorized(exc.message) from None
        auth = self._contexts.get(claims)
        if auth is None:
            if len(self._contexts) >= MAX_CONTEXTS:
                self._contexts.clear()
            auth = self._contexts[claims] = RequestContext.from_claims(claims)
        if route.permission not in auth.permissions:
            self._counters.add_at(self._slot["forbidden"])
            raise forbidden(auth.role, route.permission)
        req.context.auth = auth
        self._counters.add_at(self._slot["allowed"])

    def auth_stats(self) -> dict[str, Any]:
        """Totals over every worker process: outcomes and 401s by reason.

        `{"public", "allowed", "unauthorized", "forbidden", "not_routed": int,
        "unauthorized_by_reason": {reason: int}, "processes": int}`
        """
        totals = self._counters.totals()
        stats: dict[str, Any] = {name: totals[name] for name in _OUTCOMES}
        stats["unauthorized_by_reason"] = {r: totals[f"401_{r}"] for r in TOKEN_ERROR_REASONS}
        stats["processes"] = self._counters.processes()
        return stats


def _bearer_token(req: falcon.Request) -> str:
    header = str(req.env.get("HTTP_AUTHORIZATION") or "")
    if not header:
        raise TokenError("missing", "missing bearer token")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise TokenError("malformed", "expected 'Authorization: Bearer <token>'")
    return token


def _reopen_after_fork(ref: weakref.ref[AuthMiddleware]) -> None:
    middleware = ref()
    if middleware is not None:
        middleware._reopen()
