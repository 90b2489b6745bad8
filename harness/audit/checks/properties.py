"""API3 Broken Object Property Level Authorization: mass assignment and over-exposure.

- `api3.server_fields`: the owner creates (and then changes) an object sending the
  declared server-owned fields (id, seq, owner, role…); the write must be refused (4xx) or
  the fields ignored: a value that comes back as sent is a finding.
- `api3.undeclared_fields`: every 2xx JSON response recorded so far is compared with the
  spec's schema for it; members the schema does not declare are findings (a schema that
  allows additional properties declares them).
"""

from __future__ import annotations

import re
from typing import Any

from harness.audit.checks.authz import create_object
from harness.audit.context import AuditContext, Skip
from harness.audit.model import Category, CheckSpec, Severity


def _stuck(sent: dict[str, Any], found: dict[str, Any] | None) -> list[str]:
    if found is None:
        return []
    return [name for name, value in sent.items() if name in found and found[name] == value]


def server_fields(ctx: AuditContext) -> None:
    rules = [(i, r) for i, r in enumerate(ctx.matrix.objects) if r.server_fields]
    if not rules:
        raise Skip("the matrix declares no object with server_fields")
    for index, rule in rules:
        sent = dict(rule.server_fields)
        create = rule.create
        reply = ctx.client.send(
            create.method,
            create.path,
            token=ctx.token(rule.owner),
            role=rule.owner,
            json_body={**(create.body or {}), **sent},
        )
        if reply.status is not None and reply.status < 300:
            found = rule.object_in(reply.json())
            stuck = _stuck(sent, found)
            if rule.read is not None and found is not None and rule.id_name in found:
                back = ctx.call(rule.read, rule.owner, id=found[rule.id_name])
                stuck = sorted(set(stuck) | set(_stuck(sent, rule.object_in(back.json()))))
            if stuck:
                ctx.find(
                    Severity.HIGH,
                    f"{create.method} {create.path} accepts server-owned {', '.join(stuck)}",
                    f"{rule.owner} set {', '.join(f'{k}={sent[k]!r}' for k in stuck)} on a new "
                    f"{rule.name}; server-owned fields must be refused or ignored.",
                    reply.exchange,
                )
        if rule.update is not None:
            _update_server_fields(ctx, index, {k: v for k, v in sent.items() if k != rule.id_name})


def _update_server_fields(ctx: AuditContext, index: int, sent: dict[str, Any]) -> None:
    rule = ctx.matrix.objects[index]
    assert rule.update is not None
    object_id, _ = create_object(ctx, index)
    update = rule.update
    reply = ctx.client.send(
        update.method,
        update.path.format(id=object_id),
        token=ctx.token(rule.owner),
        role=rule.owner,
        json_body={**(update.body or {}), **sent},
    )
    if reply.status is None or reply.status >= 300:
        return
    stuck = _stuck(sent, rule.object_in(reply.json()))
    if rule.read is not None:
        back = ctx.call(rule.read, rule.owner, id=object_id)
        stuck = sorted(set(stuck) | set(_stuck(sent, rule.object_in(back.json()))))
    if stuck:
        ctx.find(
            Severity.HIGH,
            f"{update.method} {update.path} changes server-owned {', '.join(stuck)}",
            f"{rule.owner} changed {', '.join(stuck)} of its {rule.name}.",
            reply.exchange,
        )


def undeclared_fields(ctx: AuditContext) -> None:
    seen: set[tuple[str, str, str]] = set()
    checked = 0
    for reply in list(ctx.client.history):
        status = reply.status
        if status is None or not 200 <= status < 300:
            continue
        path = reply.exchange.url.split("://", 1)[-1].split("/", 1)[-1]
        operation = ctx.index.operation(reply.exchange.method, "/" + path)
        if operation is None:
            continue
        schema = ctx.index.response_schema(operation, status)
        body = reply.json()
        if schema is None or body is None:
            continue
        checked += 1
        template = ctx.index.template_of("/" + path) or path
        for field in ctx.index.undeclared_fields(schema, body):
            key = (reply.exchange.method, template, re.sub(r"\[\d+\]", "[]", field))
            if key in seen:
                continue
            seen.add(key)
            ctx.find(
                Severity.MEDIUM,
                f"{key[0]} {template} exposes undeclared {key[2]}",
                f"the response holds {key[2]}, which its schema ({status}) does not declare; "
                "an API should return only the properties it documents.",
                reply.exchange,
            )
    if checked == 0:
        raise Skip("no successful JSON response with a declared schema was recorded")
    ctx.measure("responses_checked", checked)


CHECKS = (
    (
        CheckSpec(
            "api3.server_fields",
            Category.API3,
            "Server-owned fields are refused or ignored on writes",
        ),
        server_fields,
    ),
    (
        CheckSpec(
            "api3.undeclared_fields",
            Category.API3,
            "Responses expose no field the spec does not declare",
        ),
        undeclared_fields,
    ),
)
