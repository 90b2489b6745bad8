"""Injection and robustness: schemathesis from the spec, and SQL/LIKE metacharacters.

- `inj.schemathesis`: for every operation of the spec, schemathesis (its Python API,
  Hypothesis underneath) generates up to `--max-examples` requests, reproducibly from
  `--seed`, sent with the token of the role the matrix allows most; each response must be
  no 5xx, and conform to the spec (status code, content type, schema).
- `inj.metacharacters`: every string query parameter of every GET operation gets quotes,
  comment markers and LIKE wildcards; no 5xx and no database error text may come back, and
  the list route must read the same before and after (a GET changes no data).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from harness.audit.client import KEPT_BODY_CHARS, Reply
from harness.audit.context import AuditContext, Skip
from harness.audit.model import Category, CheckSpec, Exchange, Severity

METACHARACTERS = (
    "'",
    '"',
    "' OR '1'='1",
    "%' OR 1=1 --",
    "'; DROP TABLE items; --",
    "%",
    "_",
    "\\",
    "%%%%%%%%%%",
    "\x00",
)
DATABASE_ERRORS = re.compile(
    r"sqlite3?\.|OperationalError|psycopg|syntax error at or near|SQLSTATE|ORA-\d{5}"
    r"|You have an error in your SQL syntax|unrecognized token|near \"[^\"]*\": syntax error",
    re.IGNORECASE,
)


def _widest_role(ctx: AuditContext) -> str | None:
    """The role with a token that the matrix allows on the most routes."""
    scores = {
        role: sum(1 for rule in ctx.matrix.routes if rule.expect.get(role) == "allow")
        for role in ctx.matrix.roles
        if role in ctx.tokens
    }
    return max(scores, key=lambda r: scores[r]) if scores else next(iter(ctx.tokens), None)


def _checks() -> list[Any]:
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


def _settings(ctx: AuditContext) -> Any:
    """Hypothesis settings: bounded by --max-examples, no example database, no deadline."""
    from hypothesis import HealthCheck, Phase, settings

    return settings(
        max_examples=ctx.max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )


def schemathesis_check(ctx: AuditContext) -> None:
    import hypothesis
    import schemathesis
    from hypothesis import given
    from schemathesis.core.result import Ok

    checks = _checks()
    role = _widest_role(ctx)
    token = ctx.token(role)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    schema = schemathesis.openapi.from_dict(dict(ctx.spec))
    seen: set[tuple[str, str]] = set()
    before = ctx.client.sent
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            ctx.find(Severity.LOW, "an operation schemathesis cannot read", str(result.err())[:400])
            continue

        @hypothesis.seed(ctx.seed)
        @_settings(ctx)  # type: ignore[untyped-decorator]
        @given(case=result.ok().as_strategy())
        def run_case(case: Any) -> None:
            ctx.client.count_request()
            response = case.call(
                base_url=ctx.client.base_url, headers=headers, timeout=ctx.client.timeout_s
            )
            exchange = _exchange(ctx, case, response)
            ctx.client.record(Reply(exchange, response.text[:KEPT_BODY_CHARS], role))
            try:
                case.validate_response(response, checks=checks)
            except (Exception, BaseExceptionGroup) as exc:  # how schemathesis reports failures
                _record(ctx, case.operation.label, exc, exchange, seen)

        run_case()
    cases = ctx.client.sent - before
    ctx.measure("cases", cases)
    per_operation = f"up to {ctx.max_examples} per operation"
    ctx.note(f"{cases} generated requests (seed {ctx.seed}, {per_operation}) as {role}.")


def _text(value: Any) -> str:
    """A header value: schemathesis keeps a list of values per header name."""
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _exchange(ctx: AuditContext, case: Any, response: Any) -> Exchange:
    redact = ctx.client.redactor
    request = response.request
    body = (
        request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else request.body
    )
    return Exchange(
        method=case.method,
        url=redact(str(request.url)),
        request_headers=tuple((k, redact(_text(v))) for k, v in request.headers.items()),
        request_body=redact(body[:1500]) if body else None,
        status=response.status_code,
        response_headers=tuple((k, redact(_text(v))) for k, v in response.headers.items()),
        response_body=redact(response.text[:1500]),
        latency_ms=float(getattr(response, "elapsed", 0.0)) * 1000.0,
    )


def _record(
    ctx: AuditContext,
    label: str,
    exc: BaseException,
    exchange: Exchange,
    seen: set[tuple[str, str]],
) -> None:
    failures = getattr(exc, "exceptions", None) or [exc]
    for failure in failures:
        title = str(getattr(failure, "title", type(failure).__name__))
        if (label, title) in seen:
            continue
        seen.add((label, title))
        server_error = (exchange.status or 0) >= 500
        message = str(getattr(failure, "message", "") or failure).strip()
        ctx.find(
            Severity.MEDIUM if server_error else Severity.LOW,
            f"{label}: {title}",
            ctx.client.redactor(message.splitlines()[0][:400] if message else title),
            exchange,
        )


def _string_params(ctx: AuditContext) -> list[tuple[str, str]]:
    found = []
    for method, template, _ in ctx.index.operations():
        if method != "GET" or "{" in template:
            continue
        for param in ctx.index.parameters(method, template):
            schema = ctx.index.resolve(param.get("schema", {}))
            if param.get("in") == "query" and schema.get("type", "string") == "string":
                found.append((template, str(param.get("name"))))
    return found


def metacharacters(ctx: AuditContext) -> None:
    targets = _string_params(ctx)
    if not targets:
        raise Skip("the spec declares no string query parameter on a GET route")
    role = _widest_role(ctx)
    token = ctx.token(role)
    snapshot: Callable[[], Reply] | None = None
    if ctx.matrix.limits.list_path is not None:
        path = ctx.matrix.limits.list_path

        def snapshot() -> Reply:
            return ctx.client.send("GET", path, token=token, role=role, record=False)

    before = snapshot() if snapshot else None
    for template, name in targets:
        for value in METACHARACTERS:
            reply = ctx.client.send("GET", template, token=token, role=role, params={name: value})
            leaked = DATABASE_ERRORS.search(reply.text)
            if reply.status is not None and reply.status < 500 and not leaked:
                continue
            ctx.find(
                Severity.HIGH if leaked else Severity.MEDIUM,
                f"GET {template}?{name}= {value!r} got {reply.status}"
                + (" with a database error" if leaked else ""),
                "metacharacters in a parameter must be treated as data: no 5xx, no SQL error text"
                + (f" (saw {leaked.group(0)!r})" if leaked else "")
                + ".",
                reply.exchange,
            )
    ctx.measure("parameters", len(targets))
    if before is not None and snapshot is not None:
        after = snapshot()
        if before.text != after.text:
            ctx.find(
                Severity.HIGH,
                f"GET {ctx.matrix.limits.list_path} changed during the metacharacter probes",
                "only GETs were sent, yet the data changed.",
                after.exchange,
            )


CHECKS = (
    (
        CheckSpec(
            "inj.schemathesis",
            Category.INJECTION,
            "Generated requests from the spec: no 5xx, responses conform",
        ),
        schemathesis_check,
    ),
    (
        CheckSpec(
            "inj.metacharacters",
            Category.INJECTION,
            "SQL/LIKE metacharacters in string parameters: no 5xx, no SQL errors, no change",
        ),
        metacharacters,
    ),
)
