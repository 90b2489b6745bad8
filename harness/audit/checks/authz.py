"""API5 function-level and API1 object-level authorization, from the declared matrix.

- `api5.matrix`: every route is called as every role with a token, and without one; any
  status other than the declared one is a finding (severity high when the call was let
  through where it should have been refused, medium for the opposite).
- `api1.ownership`: for each declared object with intruders, the owner creates one and
  every intruder tries to read, change and delete it: each must be refused (403 or 404).
"""

from __future__ import annotations

from harness.audit.context import AuditContext, CheckFailedToRun, Skip
from harness.audit.matrix import ANONYMOUS, expectation_met
from harness.audit.model import Category, CheckSpec, Severity


def _label(expect: object) -> str:
    return {"allow": "allowed", "deny": "403/404"}.get(str(expect), str(expect))


def matrix(ctx: AuditContext) -> None:
    if not ctx.matrix.routes:
        raise Skip("the matrix declares no routes")
    missing = [r for r in ctx.matrix.roles if r not in ctx.tokens]
    if missing:
        ctx.note(f"Roles without a token, not tested: {', '.join(missing)}.")
    checked = 0
    for rule in ctx.matrix.routes:
        for role, expect in rule.expect.items():
            if role != ANONYMOUS and role not in ctx.tokens:
                continue
            reply = ctx.call(rule.call, role)
            checked += 1
            if expectation_met(expect, reply.status):
                continue
            let_through = expect != "allow" and expectation_met("allow", reply.status)
            ctx.find(
                Severity.HIGH if let_through else Severity.MEDIUM,
                f"{role} {'may call' if let_through else 'got ' + str(reply.status) + ' on'} "
                f"{rule.call.method} {rule.call.path}",
                f"expected {_label(expect)} for {role}, got {reply.status}.",
                reply.exchange,
                Category.API5 if role != ANONYMOUS else Category.API2,
            )
    ctx.measure("calls", checked)


def create_object(ctx: AuditContext, index: int) -> tuple[str, object]:
    """(id, object) of an object the owner of `objects[index]` just created."""
    rule = ctx.matrix.objects[index]
    reply = ctx.call(rule.create, rule.owner)
    body = reply.json()
    if reply.status is None or reply.status >= 300 or not isinstance(body, dict):
        raise CheckFailedToRun(
            f"{rule.owner} could not create a {rule.name}: {rule.create.method} "
            f"{rule.create.path} answered {reply.status}"
        )
    found = rule.object_in(body)
    if found is None or rule.id_name not in found:
        raise CheckFailedToRun(f"the created {rule.name} has no {rule.id_field!r} field")
    return str(found[rule.id_name]), found


def ownership(ctx: AuditContext) -> None:
    rules = [(i, r) for i, r in enumerate(ctx.matrix.objects) if r.intruders]
    if not rules:
        raise Skip("the matrix declares no object with intruders (objects[].intruders)")
    for index, rule in rules:
        object_id, _ = create_object(ctx, index)
        for intruder in rule.intruders:
            if intruder not in ctx.tokens:
                ctx.note(f"No token for intruder {intruder}.")
                continue
            for action, call in (
                ("read", rule.read),
                ("change", rule.update),
                ("delete", rule.delete),
            ):
                if call is None:
                    continue
                reply = ctx.call(call, intruder, id=object_id)
                if expectation_met("deny", reply.status):
                    continue
                ctx.find(
                    Severity.HIGH,
                    f"{intruder} can {action} {rule.owner}'s {rule.name}",
                    f"{call.method} {call.path} on a {rule.name} that {rule.owner} created "
                    f"answered {reply.status} to {intruder}; expected 403 or 404.",
                    reply.exchange,
                )


CHECKS = (
    (
        CheckSpec("api5.matrix", Category.API5, "Every route × role gets the declared status"),
        matrix,
    ),
    (
        CheckSpec(
            "api1.ownership",
            Category.API1,
            "Another role cannot read, change or delete an owner's object",
        ),
        ownership,
    ),
)
