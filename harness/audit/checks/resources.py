"""API4 Unrestricted Resource Consumption: oversized asks must be refused, and cheaply.

Each probe's latency is measured; a refusal slower than `limits.max_refusal_ms` is a
finding too (a limit enforced after the work is done protects nothing). Probes:
a page size far above the cap, a body over the size limit (413 expected), JSON nested
100,000 deep, an `in` list of thousands of values, and the declared expensive ("slow")
requests, which must answer below 500 within `limits.max_slow_ms`.
"""

from __future__ import annotations

import shlex
from typing import Any

from harness.audit.client import Reply
from harness.audit.context import AuditContext, Skip
from harness.audit.matrix import Call
from harness.audit.model import Category, CheckSpec, Severity

HUGE_PAGE = 1_000_000
BODY_PROBE_BYTES = 8 * 1024 * 1024
NESTING_DEPTH = 100_000


def _role_for(ctx: AuditContext, method: str, path: str) -> str:
    """A role the matrix allows on the route, else any role with a token; Skip without one
    (a 401 would be a cheap refusal that proves nothing about the limit)."""
    role = ctx.matrix.allowed_role(method, path)
    if role is not None and role in ctx.tokens:
        return role
    if not ctx.tokens:
        raise Skip("no role has a token (HARNESS_TOKEN_<ROLE>)")
    return next(iter(ctx.tokens))


def _refused_cheaply(ctx: AuditContext, reply: Reply, what: str) -> None:
    limit_ms = ctx.matrix.limits.max_refusal_ms
    ctx.measure("refusal_ms", reply.exchange.latency_ms)
    if reply.exchange.latency_ms > limit_ms:
        ctx.find(
            Severity.MEDIUM,
            f"{what} refused slowly ({reply.exchange.latency_ms:,.0f} ms)",
            f"the refusal took {reply.exchange.latency_ms:,.0f} ms, over {limit_ms:,.0f} ms: "
            "the limit is checked after the expensive work.",
            reply.exchange,
        )


def _count_items(body: Any) -> int | None:
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        return next((len(v) for v in body.values() if isinstance(v, list)), None)
    return None


def page_size(ctx: AuditContext) -> None:
    limits = ctx.matrix.limits
    if limits.list_path is None:
        raise Skip("the matrix declares no list route ([limits] list)")
    role = _role_for(ctx, "GET", limits.list_path)
    params = {limits.page_param: str(HUGE_PAGE)}
    reply = ctx.client.send(
        "GET", limits.list_path, token=ctx.token(role), role=role, params=params
    )
    count = _count_items(reply.json())
    cap = limits.page_max or 1000
    if reply.status is not None and 400 <= reply.status < 500:
        _refused_cheaply(ctx, reply, f"{limits.page_param}={HUGE_PAGE}")
        return
    if reply.status is not None and reply.status < 300 and count is not None and count <= cap:
        ctx.note(f"The page was capped at {count} items.")
        ctx.measure("latency_ms", reply.exchange.latency_ms)
        return
    ctx.find(
        Severity.MEDIUM,
        f"no page-size cap on GET {limits.list_path}",
        f"{limits.page_param}={HUGE_PAGE:,} answered {reply.status} with "
        f"{'?' if count is None else f'{count:,}'} items; expected a 400 or at most {cap:,}.",
        reply.exchange,
    )


def _write(ctx: AuditContext) -> tuple[Call, str | None]:
    write = ctx.matrix.limits.write
    if write is None and ctx.matrix.objects:
        write = ctx.matrix.objects[0].create
    if write is None:
        raise Skip("the matrix declares no write route ([limits] write)")
    owner = write.role or _role_for(ctx, write.method, write.path)
    return write, owner


def _raw_post(ctx: AuditContext, data: bytes, shell: str) -> tuple[Reply, Call]:
    write, role = _write(ctx)
    token = ctx.token(role)
    url = ctx.client.url(write.path)
    auth = f" -H {shlex.quote('Authorization: Bearer ' + token)}" if token else ""
    curl = (
        f"curl -i -X {write.method}{auth} -H 'Content-Type: application/json' "
        f"-H 'Idempotency-Key: audit-repro' --data-binary \"$({shell})\" {shlex.quote(url)}"
    )
    reply = ctx.client.send(
        write.method,
        write.path,
        token=token,
        role=role,
        headers={"Content-Type": "application/json"},
        data=data,
        curl_override=curl,
    )
    return reply, write


def body_size(ctx: AuditContext) -> None:
    padding = "a" * BODY_PROBE_BYTES
    shell = f'python3 -c \'print("{{\\"name\\": \\"" + "a" * {BODY_PROBE_BYTES} + "\\"}}")\''
    reply, write = _raw_post(ctx, ('{"name": "' + padding + '"}').encode(), shell)
    if reply.status == 413:
        _refused_cheaply(ctx, reply, "an 8 MiB body")
        return
    if reply.status is None and reply.exchange.error:
        ctx.note(f"The connection was closed on the 8 MiB body ({reply.exchange.error}).")
        return
    ctx.find(
        Severity.MEDIUM
        if reply.status is None or reply.status < 400 or reply.status >= 500
        else Severity.LOW,
        f"an 8 MiB body to {write.method} {write.path} got {reply.status}, not 413",
        "a body over the service's size limit must be refused with 413 before it is parsed.",
        reply.exchange,
    )


def deep_nesting(ctx: AuditContext) -> None:
    depth = NESTING_DEPTH
    shell = f'python3 -c \'print("[" * {depth} + "]" * {depth})\''
    reply, write = _raw_post(ctx, b"[" * depth + b"]" * depth, shell)
    if reply.status is not None and 400 <= reply.status < 500:
        _refused_cheaply(ctx, reply, f"JSON nested {depth:,} deep")
        return
    ctx.find(
        Severity.MEDIUM,
        f"JSON nested {depth:,} deep to {write.method} {write.path} got {reply.status}",
        "deeply nested JSON must be refused with a 4xx before it exhausts the parser.",
        reply.exchange,
    )


def in_list(ctx: AuditContext) -> None:
    limits = ctx.matrix.limits
    if limits.in_list_path is None:
        raise Skip("the matrix declares no `in` list probe ([limits] in_list)")
    role = _role_for(ctx, "GET", limits.in_list_path)
    values = ",".join(str(i) for i in range(1, limits.in_list_count + 1))
    params = {limits.in_list_param: limits.in_list_template.format(values=values)}
    reply = ctx.client.send(
        "GET", limits.in_list_path, token=ctx.token(role), role=role, params=params
    )
    if reply.status is not None and 400 <= reply.status < 500:
        _refused_cheaply(ctx, reply, f"an `in` list of {limits.in_list_count:,} values")
        return
    ctx.find(
        Severity.MEDIUM,
        f"an `in` list of {limits.in_list_count:,} values on GET {limits.in_list_path}: "
        f"{reply.status}",
        "a filter list that long must be refused (4xx): each value costs the database work.",
        reply.exchange,
    )


def slow_requests(ctx: AuditContext) -> None:
    limits = ctx.matrix.limits
    if not limits.slow:
        raise Skip("the matrix declares no expensive requests ([[limits.slow]])")
    worst = 0.0
    for call in limits.slow:
        role = call.role or _role_for(ctx, call.method, call.path)
        reply = ctx.call(call, role)
        worst = max(worst, reply.exchange.latency_ms)
        slow = reply.exchange.latency_ms > limits.max_slow_ms
        if slow or reply.status is None or reply.status >= 500:
            ctx.find(
                Severity.MEDIUM,
                f"{call.method} {call.path}: {reply.status} in {reply.exchange.latency_ms:,.0f} ms",
                f"an expensive request must be answered below 500 within "
                f"{limits.max_slow_ms:,.0f} ms, or refused.",
                reply.exchange,
            )
    ctx.measure("slowest_ms", worst)


def _spec(name: str, title: str) -> CheckSpec:
    return CheckSpec(f"api4.{name}", Category.API4, title)


CHECKS = (
    (_spec("page_size", "A page size far over the cap is refused or capped"), page_size),
    (_spec("body_size", "A body over the size limit gets 413, quickly"), body_size),
    (_spec("deep_nesting", "JSON nested 100,000 deep gets a 4xx, quickly"), deep_nesting),
    (_spec("in_list", "A huge `in` list gets a 4xx, quickly"), in_list),
    (_spec("slow_requests", "Expensive requests answer in time or are refused"), slow_requests),
)
