"""One audit from start to finish: target, checks in order, verdict, files.

`run_audit(config)` reads the matrix and spec (bad input raises ConfigError before any
request that could change the target), starts or checks the target, runs every check of
`harness.audit.checks.CHECKS`, judges the findings against `--fail-on`, and writes the run
directory. A check that raises something unexpected is recorded as `error` with its
message (never swallowed); the target going away is RunFailed.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.audit.client import AuditClient, Redactor
from harness.audit.config import AuditConfig
from harness.audit.context import AuditContext, CheckFailedToRun, Skip
from harness.audit.matrix import Matrix, load_matrix
from harness.audit.model import CheckResult, CheckSpec, Finding, Severity, Status
from harness.audit.spec import SpecIndex, load_spec
from harness.audit.target import Target, embedded_target, url_target
from harness.errors import HarnessError


@dataclass
class AuditRun:
    """Everything one audit produced (what audit.json holds)."""

    run_id: str
    target_url: str
    target_kind: str
    matrix_source: str
    spec_source: str
    config: AuditConfig
    roles_with_tokens: tuple[str, ...]
    started_at: float
    ended_at: float = 0.0
    results: list[CheckResult] = field(default_factory=list)
    requests: int = 0
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def findings(self) -> list[Finding]:
        """Every finding, most severe first, in check order within a severity."""
        found = [f for r in self.results for f in r.findings]
        return sorted(found, key=lambda f: -f.severity)

    @property
    def failing(self) -> list[Finding]:
        """Findings at or above `--fail-on`."""
        return [f for f in self.findings if f.severity >= self.config.fail_on]

    @property
    def errors(self) -> list[CheckResult]:
        """Checks that could not reach a verdict."""
        return [r for r in self.results if r.status is Status.ERROR]

    @property
    def verdict(self) -> str:
        """`fail` (findings at or above --fail-on), `error` (a check could not run), `pass`."""
        if self.failing:
            return "fail"
        if self.errors:
            return "error"
        return "pass"


def run_audit(config: AuditConfig, run_id: str) -> AuditRun:
    """Audit the configured target; the caller writes the files (harness.audit.output)."""
    from harness.audit.reference import reference_matrix

    matrix = load_matrix(config.matrix) if config.matrix else reference_matrix()
    if config.host is not None:
        target = url_target(config.host, matrix.roles)
        document, spec_source = load_spec(config.spec, target.url)
    else:
        if config.spec is not None and not config.spec.startswith(("http://", "https://")):
            load_spec(config.spec, "")  # bad input before the service starts
        target = embedded_target()
    try:
        if config.host is None:
            document, spec_source = load_spec(config.spec, target.url)
        return _run_checks(config, matrix, target, document, spec_source, run_id)
    finally:
        target.stop()


def _run_checks(
    config: AuditConfig,
    matrix: Matrix,
    target: Target,
    document: dict[str, object],
    spec_source: str,
    run_id: str,
) -> AuditRun:
    from harness.audit.checks import CHECKS

    ctx = _context(config, matrix, target, document)
    client, redactor = ctx.client, ctx.client.redactor
    run = AuditRun(
        run_id=run_id,
        target_url=target.url,
        target_kind=target.kind,
        matrix_source=matrix.source,
        spec_source=spec_source,
        config=config,
        roles_with_tokens=tuple(sorted(target.tokens)),
        started_at=time.time(),
    )
    try:
        for spec, check in CHECKS:
            run.results.append(_run_one(ctx, spec, check))
    finally:
        client.close()
    run.ended_at = time.time()
    run.requests = client.sent
    run.secrets = redactor.secrets + _key_forms(target)
    return run


def _context(
    config: AuditConfig, matrix: Matrix, target: Target, document: dict[str, object]
) -> AuditContext:
    redactor = Redactor()
    for role, token in target.tokens.items():
        redactor.add(token, f"token:{role}")
    client = AuditClient(
        target.url,
        redactor,
        timeout_s=config.request_timeout_s,
        max_requests=config.max_requests,
        deadline_s=config.deadline_s,
    )
    return AuditContext(
        client=client,
        matrix=matrix,
        tokens=target.tokens,
        signing_key=target.signing_key,
        public_key=target.public_key,
        spec=document,
        index=SpecIndex(document),
        seed=config.seed,
        max_examples=config.max_examples,
    )


def _run_one(
    ctx: AuditContext, spec: CheckSpec, check: Callable[[AuditContext], None]
) -> CheckResult:
    result = CheckResult(spec)
    ctx.result = result
    sent_before = ctx.client.sent
    start = time.perf_counter()
    try:
        check(ctx)
        result.status = Status.FAIL if result.findings else Status.PASS
    except Skip as exc:
        result.status, result.note = Status.SKIPPED, f"{result.note} {exc}".strip()
    except CheckFailedToRun as exc:
        result.status, result.note = Status.ERROR, f"{result.note} {exc}".strip()
    except HarnessError:
        raise
    except Exception as exc:  # a broken check is shown as such, never hidden
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(last.filename).name}:{last.lineno}"
        result.status = Status.ERROR
        result.note = f"{result.note} check failed: {type(exc).__name__}: {exc} ({where})".strip()
    if result.findings and result.status is not Status.FAIL:
        result.status = Status.FAIL
    result.requests = ctx.client.sent - sent_before
    result.duration_s = time.perf_counter() - start
    ctx.result = None
    return result


def _key_forms(target: Target) -> tuple[str, ...]:
    from harness.audit.checks.exposure import key_forms

    return tuple(key_forms(target.signing_key.secret)) if target.signing_key else ()


def severity_counts(findings: list[Finding]) -> dict[str, int]:
    """Findings per severity label, high first."""
    return {
        s.label: sum(1 for f in findings if f.severity is s) for s in sorted(Severity, reverse=True)
    }
