"""Role-based access control for the reference service: the one route table, roles, guards.

`ROUTES` is the single source of truth for who may call what and how the edge caches it:
the app registers these templates, the auth middleware enforces their permission, the edge
cache applies their tier, and docs/security.md shows the table rendered by
`routes_markdown()` (a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import falcon

if TYPE_CHECKING:
    from harness.service.tokens import Claims

TIERS: tuple[str, ...] = ("static", "html", "api", "dynamic")
"""CDN tiers, from the longest-lived to the never-stored."""


@dataclass(frozen=True, slots=True)
class Route:
    """One route of the reference service: method, Falcon URI template, permission, CDN tier.

    `permission` None means public (no token needed).
    """

    method: str
    template: str
    permission: str | None
    tier: str

    @property
    def public(self) -> bool:
        """True when no token is needed."""
        return self.permission is None


ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", None, "dynamic"),
    Route("GET", "/readyz", None, "dynamic"),
    Route("GET", "/openapi.json", None, "html"),
    Route("GET", "/static/{path}", None, "static"),
    Route("GET", "/", None, "html"),
    Route("GET", "/pages/{slug}", None, "html"),
    Route("GET", "/api/items", "items:read", "api"),
    Route("GET", "/api/items/bulk", "items:bulk_read", "api"),
    Route("GET", "/api/items/{item_id:int}", "items:read", "api"),
    Route("POST", "/api/items", "items:create", "dynamic"),
    Route("PATCH", "/api/items/{item_id:int}", "items:update", "dynamic"),
    Route("DELETE", "/api/items/{item_id:int}", "items:delete", "dynamic"),
    Route("POST", "/api/writes/lookup", "writes:verify", "dynamic"),
    Route("GET", "/api/me", "profile:read", "dynamic"),
    Route("GET", "/metrics", "metrics:read", "dynamic"),
    Route("GET", "/admin/cdn/stats", "cdn:stats", "dynamic"),
    Route("POST", "/admin/cdn/purge", "cdn:purge", "dynamic"),
    Route("POST", "/admin/keys/rotate", "keys:rotate", "dynamic"),
    Route("POST", "/admin/tokens/revoke", "tokens:revoke", "dynamic"),
    Route("POST", "/admin/tokens", "tokens:issue", "dynamic"),
    Route("GET", "/admin/audit", "audit:read", "dynamic"),
    Route("GET", "/admin/statements", "metrics:read", "dynamic"),
)
"""Every route of the reference service. A route missing here is refused (fail closed)."""

PERMISSIONS: tuple[str, ...] = (
    "items:read",
    "items:create",
    "items:update",
    "items:delete",
    "items:bulk_read",
    "writes:verify",
    "profile:read",
    "metrics:read",
    "cdn:stats",
    "cdn:purge",
    "keys:rotate",
    "tokens:revoke",
    "tokens:issue",
    "audit:read",
)
"""The 14 permissions."""

ROLES: tuple[str, ...] = ("admin", "service", "user", "viewer")
"""The four roles a token can carry."""

ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "admin": frozenset(PERMISSIONS),
        "service": frozenset(
            {"items:read", "items:bulk_read", "writes:verify", "metrics:read", "profile:read"}
        ),
        "user": frozenset(
            {"items:read", "items:create", "items:update", "items:delete", "profile:read"}
        ),
        "viewer": frozenset({"items:read", "profile:read"}),
    }
)
"""What each role may do."""

_BY_KEY: Mapping[tuple[str, str], Route] = MappingProxyType(
    {(route.method, route.template): route for route in ROUTES}
)
_METHODS_BY_TEMPLATE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        template: tuple(r.method for r in ROUTES if r.template == template)
        for template in dict.fromkeys(r.template for r in ROUTES)
    }
)


def route_for(method: str, template: str | None) -> Route | None:
    """The route registered for `method` on the Falcon URI `template`, or None."""
    if template is None:
        return None
    return _BY_KEY.get((method, template))


def methods_for(template: str | None) -> tuple[str, ...]:
    """The methods the table allows on `template` (empty when the template is unknown)."""
    if template is None:
        return ()
    return _METHODS_BY_TEMPLATE.get(template, ())


def roles_with(permission: str | None) -> tuple[str, ...]:
    """Roles holding `permission`; every role (and anonymous callers) for None."""
    if permission is None:
        return ROLES
    return tuple(role for role in ROLES if permission in ROLE_PERMISSIONS[role])


def routes_markdown() -> str:
    """The route table as a Markdown table (the one embedded in docs/security.md)."""
    lines = [
        "| method | route | permission | roles | CDN tier |",
        "| --- | --- | --- | --- | --- |",
    ]
    for route in ROUTES:
        permission = route.permission or "public"
        roles = "anyone" if route.public else ", ".join(roles_with(route.permission))
        lines.append(
            f"| {route.method} | `{route.template}` | {permission} | {roles} | {route.tier} |"
        )
    return "\n".join(lines) + "\n"


def roles_markdown() -> str:
    """The role-to-permission matrix as a Markdown table (also in docs/security.md)."""
    lines = ["| permission | " + " | ".join(ROLES) + " |", "| --- |" + " --- |" * len(ROLES)]
    for permission in PERMISSIONS:
        marks = " | ".join("yes" if permission in ROLE_PERMISSIONS[role] else "-" for role in ROLES)
        lines.append(f"| {permission} | {marks} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is calling, built from a verified token's claims; set as `req.context.auth`."""

    sub: str
    role: str
    permissions: frozenset[str]
    kid: str
    jti: str
    expires_at: float

    @classmethod
    def from_claims(cls, claims: Claims) -> RequestContext:
        """The context for verified `claims` (permissions come from the role)."""
        return cls(
            sub=claims.sub,
            role=claims.role,
            permissions=ROLE_PERMISSIONS.get(claims.role, frozenset()),
            kid=claims.kid,
            jti=claims.jti,
            expires_at=float(claims.exp),
        )

    def can(self, permission: str) -> bool:
        """True when this caller holds `permission`."""
        return permission in self.permissions


class AuthError(falcon.HTTPError):
    """A 401 or 403 whose JSON body is `{"error": ..., "message": ...}`.

    The message never contains a token or a secret.
    """

    def __init__(self, status: str, error: str, message: str, challenge: str) -> None:
        super().__init__(
            status, title=error, description=message, headers={"WWW-Authenticate": challenge}
        )
        self.error = error
        self.message = message

    def to_dict(self, obj_type: type[Any] = dict) -> Any:
        """`{"error": ..., "message": ...}` instead of Falcon's title/description."""
        obj = obj_type()
        obj["error"] = self.error
        obj["message"] = self.message
        return obj


def unauthorized(message: str) -> AuthError:
    """A 401 with the RFC 6750 Bearer challenge naming the problem."""
    safe = message.replace('"', "'")
    challenge = f'Bearer realm="harness", error="invalid_token", error_description="{safe}"'
    return AuthError(falcon.HTTP_401, "unauthorized", message, challenge)


def forbidden(role: str, permission: str) -> AuthError:
    """A 403 for a valid token whose role lacks `permission`."""
    challenge = f'Bearer realm="harness", error="insufficient_scope", scope="{permission}"'
    message = f"role {role!r} lacks permission {permission!r}"
    return AuthError(falcon.HTTP_403, "forbidden", message, challenge)


_Responder = TypeVar("_Responder", bound=Callable[..., Any])


def _auth_of(req: falcon.Request) -> RequestContext:
    auth = getattr(req.context, "auth", None)
    if not isinstance(auth, RequestContext):
        raise unauthorized("missing bearer token")
    return auth


def require_permission(permission: str) -> Callable[[_Responder], _Responder]:
    """Decorator for a Falcon responder (or resource class): 401/403 unless the caller
    (`req.context.auth`, set by AuthMiddleware) holds `permission`."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; expected one of {PERMISSIONS}")

    def check(req: falcon.Request, resp: falcon.Response, resource: object, params: Any) -> None:
        auth = _auth_of(req)
        if permission not in auth.permissions:
            raise forbidden(auth.role, permission)

    return falcon.before(check)


def require_role(role: str) -> Callable[[_Responder], _Responder]:
    """Decorator for a Falcon responder (or resource class): 401/403 unless the caller's
    role is `role`. Prefer `require_permission`; roles are coarser."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")

    def check(req: falcon.Request, resp: falcon.Response, resource: object, params: Any) -> None:
        auth = _auth_of(req)
        if auth.role != role:
            raise AuthError(
                falcon.HTTP_403,
                "forbidden",
                f"role {auth.role!r} is not {role!r}",
                f'Bearer realm="harness", error="insufficient_scope", scope="role:{role}"',
            )

    return falcon.before(check)
