"""What every check gets: the client, the matrix, tokens per role, keys, the spec, settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.audit.client import AuditClient, Reply
from harness.audit.forge import SigningKey
from harness.audit.matrix import Call, Matrix
from harness.audit.model import Category, CheckResult, Exchange, Finding, Severity
from harness.audit.spec import SpecIndex


class Skip(Exception):
    """The check does not apply to this target, or lacks what it needs; the reason is shown."""


class CheckFailedToRun(Exception):
    """The check's own control request failed, so its verdict would mean nothing."""


@dataclass
class AuditContext:
    """Shared state of one audit run (see the module docstring)."""

    client: AuditClient
    matrix: Matrix
    tokens: Mapping[str, str]
    signing_key: SigningKey | None
    public_key: bytes | None
    spec: Mapping[str, Any]
    index: SpecIndex
    seed: int
    max_examples: int
    result: CheckResult | None = None
    control_passed: bool = False
    """The auth probe's control request (the role's real token) was answered as allowed."""

    def token(self, role: str | None) -> str | None:
        """The token of `role` (None for anonymous); Skip when the role has none."""
        if role is None or role == "anonymous":
            return None
        if role not in self.tokens:
            raise Skip(f"no token for role {role!r} (set HARNESS_TOKEN_{role.upper()})")
        return self.tokens[role]

    def call(self, call: Call, role: str | None, **values: Any) -> Reply:
        """Send a matrix call as `role`, with `{name}` placeholders filled from `values`."""
        path = call.path.format(**values) if values else call.path
        body = _fill(call.body, values) if values else call.body
        kwargs: dict[str, Any] = {"params": dict(call.params) or None}
        if body is not None:
            kwargs["json_body"] = body
        return self.client.send(call.method, path, token=self.token(role), role=role, **kwargs)

    def find(
        self,
        severity: Severity,
        title: str,
        detail: str,
        exchange: Exchange | None = None,
        category: Category | None = None,
    ) -> None:
        """Record a finding on the running check."""
        assert self.result is not None
        self.result.findings.append(
            Finding(
                check=self.result.spec.id,
                category=category or self.result.spec.category,
                severity=severity,
                title=title,
                detail=detail,
                exchange=exchange,
            )
        )

    def measure(self, name: str, value: float) -> None:
        """Record a number the check measured (shown in the report and audit.json)."""
        assert self.result is not None
        self.result.measurements[name] = value

    def note(self, text: str) -> None:
        """Add a sentence to the running check's note."""
        assert self.result is not None
        self.result.note = f"{self.result.note} {text}".strip()


def _fill(body: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(body, str):
        return body.format(**values) if "{" in body else body
    if isinstance(body, dict):
        return {k: _fill(v, values) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, values) for v in body]
    return body
