"""`harness audit`: an OWASP API Top 10 audit of the reference service or `--host`.

Exit codes: 0 no finding at or above --fail-on, 1 findings at or above it, 2 bad input
(unreachable host, a spec that is not OpenAPI 3, a malformed matrix; nothing was sent),
3 the audit itself failed (the service did not start, the target went away, or a check
could not reach a verdict).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import EXIT_PASS, EXIT_RUN_FAILED, EXIT_THRESHOLD_FAILED, ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness audit`."""
    add = parser.add_argument
    add("--host", metavar="URL", help="audit this base URL instead of the embedded service")
    add("--spec", metavar="FILE|URL", help="OpenAPI 3 document (default: <host>/openapi.json)")
    add(
        "--matrix",
        type=Path,
        metavar="FILE",
        help="access matrix, TOML (default: the reference service's)",
    )
    add("--out", type=Path, metavar="DIR", help="run directory (default: reports/<audit-id>/)")
    add(
        "--fail-on",
        default="low",
        metavar="low|medium|high",
        help="least severity that fails (default low)",
    )
    add("--seed", type=int, default=1, metavar="N", help="seed of generated requests (default 1)")
    add(
        "--max-examples",
        type=int,
        default=25,
        metavar="N",
        help="generated requests per operation (default 25)",
    )


def _ensure_new_dir(path: Path) -> None:
    """Refuse an --out that holds anything, as `run`, `scenario` and `suite` do: an older
    audit's files would be overwritten or mixed with this one's."""
    if path.exists() and not path.is_dir():
        raise ConfigError("expected a directory, found a file", f"--out {path}")
    if path.is_dir() and any(path.iterdir()):
        raise ConfigError("directory is not empty; expected a new or empty one", f"--out {path}")


def execute(args: argparse.Namespace) -> int:
    """Audit, write the run directory, print the verdict; the exit code."""
    from harness.audit.config import AuditConfig, parse_severity
    from harness.audit.output import write_audit
    from harness.audit.runner import run_audit, severity_counts
    from harness.load.launch import check_target_url
    from harness.rundir import new_run_id

    if args.host is not None:
        check_target_url(args.host)
    if args.matrix is not None and not args.matrix.is_file():
        raise ConfigError("no such file", str(args.matrix))
    if args.out is not None:
        _ensure_new_dir(args.out)
    config = AuditConfig(
        host=args.host,
        spec=args.spec,
        matrix=args.matrix,
        fail_on=parse_severity(args.fail_on),
        seed=args.seed,
        max_examples=args.max_examples,
    )
    run_id = new_run_id("audit")
    run_dir = args.out or Path("reports") / run_id
    run = run_audit(config, run_id)
    files = write_audit(run, run_dir, run.secrets)
    counts = severity_counts(run.findings)
    print(
        f"audit {run.verdict.upper()}: {counts['high']} high, {counts['medium']} medium, "
        f"{counts['low']} low finding(s); {len(run.results)} checks, {run.requests} requests"
    )
    for finding in run.failing[:20]:
        print(f"  [{finding.severity.label}] {finding.category.value} {finding.title}")
    for result in run.errors:
        print(f"  [error] {result.spec.id}: {result.note}")
    print(f"report: {files['report.html']}")
    return {"pass": EXIT_PASS, "fail": EXIT_THRESHOLD_FAILED}.get(run.verdict, EXIT_RUN_FAILED)
