"""API8 Security Misconfiguration: headers, CORS, error bodies, methods, cookies.

The header checks read every response the audit recorded (one finding per route):
authenticated 2xx answers must not be storable by a shared cache (`private` or
`no-store`), every answer carries `X-Content-Type-Options: nosniff`, and cookies are
`Secure; HttpOnly`. CORS, error details and methods send probes of their own.
"""

from __future__ import annotations

import re

from harness.audit.client import Reply
from harness.audit.context import AuditContext, Skip
from harness.audit.matrix import ANONYMOUS
from harness.audit.model import Category, CheckSpec, Severity

EVIL_ORIGIN = "https://audit-evil.example"
STACK_TRACE = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+|"
    r"\bat [\w$.]+\([\w$]+\.java:\d+\)|Exception in thread|"
    r"node_modules/|\.go:\d+ \+0x|Microsoft\.AspNetCore|werkzeug\.debug"
)


def _route(ctx: AuditContext, reply: Reply) -> str:
    path = "/" + reply.exchange.url.split("://", 1)[-1].split("/", 1)[-1]
    return f"{reply.exchange.method} {ctx.index.template_of(path) or path.split('?')[0]}"


def _once(ctx: AuditContext, seen: set[str], reply: Reply) -> str | None:
    route = _route(ctx, reply)
    if route in seen:
        return None
    seen.add(route)
    return route


def _protected(ctx: AuditContext, reply: Reply) -> bool:
    """True when the route needs a token: the matrix refuses `anonymous` there, or (for
    routes the matrix does not list) the spec declares a security requirement."""
    path = "/" + reply.exchange.url.split("://", 1)[-1].split("/", 1)[-1]
    bare = path.split("?", 1)[0]
    for rule in ctx.matrix.routes:
        if rule.call.method == reply.exchange.method and rule.call.path == bare:
            return rule.expect.get(ANONYMOUS, "allow") != "allow"
    operation = ctx.index.operation(reply.exchange.method, bare)
    if operation is None:
        return True
    security = operation.get("security", ctx.spec.get("security", []))
    return bool(security) and security != [{}]


def cache_control(ctx: AuditContext) -> None:
    seen: set[str] = set()
    checked = 0
    for reply in list(ctx.client.history):
        auth = dict(reply.exchange.request_headers).get("Authorization")
        if auth is None or reply.status is None or not 200 <= reply.status < 300:
            continue
        if not _protected(ctx, reply):
            continue
        checked += 1
        value = (reply.exchange.response_header("Cache-Control") or "").lower()
        directives = {d.strip().split("=")[0] for d in value.split(",") if d.strip()}
        if "no-store" in directives or "private" in directives:
            continue
        route = _once(ctx, seen, reply)
        if route is None:
            continue
        shared = directives & {"public", "s-maxage", "must-revalidate"}
        ctx.find(
            Severity.MEDIUM if shared else Severity.LOW,
            f"{route}: authenticated answer "
            + ("storable by shared caches" if shared else "without private/no-store"),
            f"Cache-Control is {value or 'absent'!r}; a response to an authenticated request "
            "must say `private` or `no-store` so no shared cache serves it to someone else.",
            reply.exchange,
        )
    if not checked:
        raise Skip("no authenticated 2xx response was recorded")
    ctx.measure("responses_checked", checked)


def nosniff(ctx: AuditContext) -> None:
    seen: set[str] = set()
    for reply in list(ctx.client.history):
        if reply.status is None or not reply.text:
            continue  # an empty body has nothing to sniff
        if (reply.exchange.response_header("X-Content-Type-Options") or "").lower() == "nosniff":
            continue
        route = _once(ctx, seen, reply)
        if route is not None:
            ctx.find(
                Severity.LOW,
                f"{route}: no X-Content-Type-Options: nosniff ({reply.status})",
                "without nosniff a browser may render a JSON or text answer as HTML.",
                reply.exchange,
            )


def cors(ctx: AuditContext) -> None:
    probe = ctx.matrix.auth_probe()
    path = probe[0].call.path if probe else "/"
    role = probe[1] if probe else None
    token = ctx.token(role) if role in ctx.tokens else None
    preflight = ctx.client.send(
        "OPTIONS",
        path,
        headers={"Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"},
    )  # fmt: skip
    simple = ctx.client.send("GET", path, token=token, role=role, headers={"Origin": EVIL_ORIGIN})
    for reply in (preflight, simple):
        origin = reply.exchange.response_header("Access-Control-Allow-Origin")
        credentials = (
            reply.exchange.response_header("Access-Control-Allow-Credentials") or ""
        ).lower()
        if origin in ("*", EVIL_ORIGIN, "null") and credentials == "true":
            ctx.find(
                Severity.HIGH,
                f"CORS lets any origin send credentials ({reply.exchange.method} {path})",
                f"Access-Control-Allow-Origin: {origin} with Allow-Credentials: true lets any "
                "web page call the API as its visitor.",
                reply.exchange,
            )
        elif (
            origin == "*"
            and reply.exchange.response_header("Access-Control-Allow-Headers")
            and "authorization"
            in (reply.exchange.response_header("Access-Control-Allow-Headers") or "").lower()
        ):
            ctx.find(
                Severity.LOW,
                f"CORS allows any origin to send Authorization ({path})",
                "a wildcard origin with Authorization allowed invites token-bearing calls "
                "from any page.",
                reply.exchange,
            )


def error_details(ctx: AuditContext) -> None:
    write = ctx.matrix.limits.write or (
        ctx.matrix.objects[0].create if ctx.matrix.objects else None
    )
    if write is not None:
        role = write.role or ctx.matrix.allowed_role(write.method, write.path)
        token = ctx.token(role) if role in ctx.tokens else None
        for body in (b"{not json", b'{"name": ', b"\xff\xfe"):
            ctx.client.send(write.method, write.path, token=token, role=role,
                            headers={"Content-Type": "application/json"}, data=body)  # fmt: skip
    ctx.client.send("GET", "/audit-no-such-route/%ff%fe", headers={"Accept": "text/html"})
    seen: set[str] = set()
    for reply in list(ctx.client.history):
        match = STACK_TRACE.search(reply.text)
        if match is None:
            continue
        route = _once(ctx, seen, reply)
        if route is not None:
            ctx.find(
                Severity.MEDIUM,
                f"{route}: a stack trace in the body ({reply.status})",
                f"the body shows internals ({match.group(0)!r}); errors must say what was wrong "
                "with the request, never how the server is built.",
                reply.exchange,
            )


def methods(ctx: AuditContext) -> None:
    probe = ctx.matrix.auth_probe()
    paths = ["/"] + ([probe[0].call.path] if probe else [])
    for path in paths:
        for method in ("TRACE", "AUDITFOO"):
            reply = ctx.client.send(method, path, headers={"X-Audit-Echo": "audit-marker"})
            ok = reply.status is not None and (400 <= reply.status < 500 or reply.status == 501)
            if ok:
                continue
            echoed = "audit-marker" in reply.text
            ctx.find(
                Severity.MEDIUM if echoed or (reply.status or 0) < 300 else Severity.LOW,
                f"{method} {path} answered {reply.status}"
                + (" echoing the request" if echoed else ""),
                "TRACE and unknown methods must be refused (405 or 501).",
                reply.exchange,
            )


def cookies(ctx: AuditContext) -> None:
    seen: set[str] = set()
    found = 0
    for reply in list(ctx.client.history):
        for name, value in reply.exchange.response_headers:
            if name.lower() != "set-cookie":
                continue
            found += 1
            flags = {part.strip().lower() for part in value.split(";")[1:]}
            missing = [f for f in ("secure", "httponly") if f not in flags]
            route = _route(ctx, reply)
            if missing and route not in seen:
                seen.add(route)
                ctx.find(
                    Severity.MEDIUM,
                    f"{route}: a cookie without {' and '.join(m.capitalize() for m in missing)}",
                    "cookies must be HTTPS-only (Secure) and out of scripts' reach (HttpOnly).",
                    reply.exchange,
                )
    if not found:
        raise Skip("no response set a cookie")


def _spec(name: str, title: str) -> CheckSpec:
    return CheckSpec(f"api8.{name}", Category.API8, title)


CHECKS = (
    (_spec("cache_control", "Authenticated answers are private or no-store"), cache_control),
    (_spec("nosniff", "Every answer carries X-Content-Type-Options: nosniff"), nosniff),
    (_spec("cors", "CORS never allows any origin with credentials"), cors),
    (_spec("error_details", "No stack trace or internals in any body"), error_details),
    (_spec("methods", "TRACE and unknown methods are refused"), methods),
    (_spec("cookies", "Cookies are Secure and HttpOnly"), cookies),
)
