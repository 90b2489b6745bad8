"""The audit's checks, one module per OWASP family; `CHECKS` is the order they run in.

Each check is `(CheckSpec, run(ctx))`: `run` sends requests through `ctx`, records findings
with `ctx.find`, and raises `Skip` when it does not apply.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.audit.checks import authn, authz, exposure, fuzz, misconfig, properties, resources
from harness.audit.context import AuditContext
from harness.audit.model import CheckSpec

Check = tuple[CheckSpec, Callable[[AuditContext], None]]

CHECKS: tuple[Check, ...] = (
    *authn.CHECKS,
    *authz.CHECKS,
    properties.CHECKS[0],
    *resources.CHECKS,
    *fuzz.CHECKS,
    # these read every response the checks above recorded, so they run last
    properties.CHECKS[1],
    *misconfig.CHECKS,
    *exposure.CHECKS,
)
