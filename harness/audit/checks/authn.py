"""API2 Broken Authentication: every forged, stale or absent credential must get a 401.

All checks call the matrix's probe route (a GET that `anonymous` gets 401 on and a role is
allowed) first with the role's real token: if that is refused, no 401 below would mean
anything, so the checks error instead of passing.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.audit.context import AuditContext, CheckFailedToRun, Skip
from harness.audit.forge import Forger
from harness.audit.matrix import expectation_met
from harness.audit.model import Category, CheckSpec, Severity


def _spec(name: str, title: str) -> CheckSpec:
    return CheckSpec(f"api2.{name}", Category.API2, title)


def _probe(ctx: AuditContext) -> tuple[str, str, str]:
    """(path, role, token) of the probe route, its control request answered."""
    found = ctx.matrix.auth_probe()
    if found is None:
        raise Skip("the matrix has no GET route that refuses anonymous callers with 401")
    rule, role = found
    token = ctx.token(role)
    assert token is not None
    if not ctx.control_passed:
        control = ctx.client.send("GET", rule.call.path, token=token, role=role)
        if not expectation_met("allow", control.status):
            raise CheckFailedToRun(
                f"the {role} token itself got {control.status} on GET {rule.call.path}"
            )
        ctx.control_passed = True
    return rule.call.path, role, token


def _expect_401(
    ctx: AuditContext, label: str, token: str | None, header: str | None = None
) -> None:
    path, role, _ = _probe(ctx)
    ctx.client.redactor.add(token or "", f"forged token: {label}")
    headers = {"Authorization": header} if header is not None else None
    reply = ctx.client.send("GET", path, token=token, role=role, headers=headers)
    if reply.status != 401:
        ctx.find(
            Severity.HIGH,
            f"{label} accepted"
            if reply.status and reply.status < 400
            else f"{label}: {reply.status}, not 401",
            f"GET {path} with {label} answered {reply.status}; every bad credential must be "
            "refused with 401 before anything else is done.",
            reply.exchange,
        )


def _needs(token: str | None, what: str) -> str:
    if token is None:
        raise Skip(f"needs {what}")
    return token


def _forger(ctx: AuditContext) -> Forger:
    _, _, token = _probe(ctx)
    return Forger(token, ctx.signing_key, ctx.public_key)


_KEY = "the target's signing key (embedded service, or HARNESS_AUDIT_SIGNING_KEY)"


def no_token(ctx: AuditContext) -> None:
    _expect_401(ctx, "no token", None)


def malformed(ctx: AuditContext) -> None:
    for label, header in (
        ("a non-JWT bearer token", "Bearer not-a-jwt"),
        ("a truncated JWT", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0"),
        ("an empty bearer token", "Bearer "),
        ("a Basic credential", "Basic YWRtaW46YWRtaW4="),
    ):
        _expect_401(ctx, label, None, header)


def alg_none(ctx: AuditContext) -> None:
    _expect_401(ctx, "an alg:none token", _forger(ctx).alg_none())


def key_confusion(ctx: AuditContext) -> None:
    forger = _forger(ctx)
    if not forger.asymmetric:
        raise Skip("not applicable: the target signs with HMAC (no public key to confuse)")
    token = _needs(forger.key_confusion(), "the target's public key (HARNESS_AUDIT_PUBLIC_KEY)")
    _expect_401(ctx, "an HS256 token signed with the public key", token)


def tampered(ctx: AuditContext) -> None:
    _expect_401(ctx, "a token with a tampered payload", _forger(ctx).tampered())


def _resigned(ctx: AuditContext, label: str, make: Callable[[Forger], str | None]) -> None:
    forger = _forger(ctx)
    control = _needs(forger.resigned(), _KEY)
    path, role, _ = _probe(ctx)
    ctx.client.redactor.add(control, "re-signed token")
    reply = ctx.client.send("GET", path, token=control, role=role)
    if not expectation_met("allow", reply.status):
        raise CheckFailedToRun(f"a token re-signed with the given key got {reply.status}")
    _expect_401(ctx, label, _needs(make(forger), _KEY))


def expired(ctx: AuditContext) -> None:
    leeway = ctx.matrix.auth.leeway_s
    _resigned(ctx, f"a token expired {leeway:g} s + 1 h ago", lambda f: f.expired(leeway))


def not_yet_valid(ctx: AuditContext) -> None:
    leeway = ctx.matrix.auth.leeway_s
    _resigned(ctx, "a token not valid for another hour", lambda f: f.not_yet_valid(leeway))


def wrong_audience(ctx: AuditContext) -> None:
    _resigned(ctx, "a token for another audience", Forger.other_audience)


def wrong_issuer(ctx: AuditContext) -> None:
    _resigned(ctx, "a token from another issuer", Forger.other_issuer)


def revoked(ctx: AuditContext) -> None:
    revoke = ctx.matrix.auth.revoke
    if revoke is None:
        raise Skip("not applicable: the matrix declares no revocation ([auth] revoke)")
    path, role, _ = _probe(ctx)
    fresh = _fresh_token(ctx, role)
    ctx.client.redactor.add(fresh, "token to revoke")
    before = ctx.client.send("GET", path, token=fresh, role=role)
    if not expectation_met("allow", before.status):
        raise CheckFailedToRun(f"the fresh token got {before.status} before its revocation")
    jti = str(Forger(fresh, None).claims.get("jti"))
    answer = ctx.call(revoke, revoke.role or role, jti=jti)
    if answer.status is None or answer.status >= 300:
        raise CheckFailedToRun(f"revoking the token answered {answer.status}")
    _expect_401(ctx, "a revoked token", fresh)


def _fresh_token(ctx: AuditContext, role: str) -> str:
    """A token nobody else uses: re-signed with a new jti, or issued by `[auth] issue`."""
    fresh = _forger(ctx).fresh()
    if fresh is not None:
        return fresh
    issue = ctx.matrix.auth.issue
    if issue is None:
        raise Skip(f"needs {_KEY}, or a way to issue a token ([auth] issue)")
    reply = ctx.call(issue, issue.role or role)
    body = reply.json()
    token = body.get(ctx.matrix.auth.issue_field) if isinstance(body, dict) else None
    if not isinstance(token, str):
        raise CheckFailedToRun(f"issuing a token answered {reply.status} without one")
    return token


CHECKS = (
    (_spec("no_token", "A protected route without a token gets 401"), no_token),
    (_spec("malformed", "Malformed and non-bearer credentials get 401"), malformed),
    (_spec("alg_none", "A token with alg:none gets 401"), alg_none),
    (_spec("key_confusion", "An HS256 token signed with the public key gets 401"), key_confusion),
    (_spec("tampered", "A token whose payload was changed gets 401"), tampered),
    (_spec("expired", "A token expired beyond the leeway gets 401"), expired),
    (_spec("not_yet_valid", "A token not yet valid (nbf) gets 401"), not_yet_valid),
    (_spec("wrong_audience", "A token for another audience gets 401"), wrong_audience),
    (_spec("wrong_issuer", "A token from another issuer gets 401"), wrong_issuer),
    (_spec("revoked", "A revoked token gets 401"), revoked),
)
