"""`harness suite [FILES | DIR]`: scenarios in a row, an index page, one JUnit document.

Every scenario is checked before the first one starts (exit 2 on any bad file). A failing
scenario does not stop the suite. Exit code: the worst of the scenarios' (0, 1 or 3).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness suite`."""
    add = parser.add_argument
    add("paths", nargs="*", type=Path, metavar="FILE|DIR", help="scenario files or folders "
        "(default: scenarios/)")  # fmt: skip
    add("--out", type=Path, metavar="DIR", help="suite folder (default: reports/suite-<id>/)")
    add(
        "--duration",
        metavar="DUR",
        help="rescale every scenario to this total length (default: each one's own)",
    )
    add("--workers", type=int, default=1, metavar="N", help="local load workers per scenario")
    add("--threshold", action="append", default=[], metavar="EXPR", help="for every scenario")
    add("--readback-timeout", default="20s", metavar="DUR", help="per scenario's read-back")


def execute(args: argparse.Namespace) -> int:
    """Check all, run each, write index.html and junit.xml; the worst exit code."""
    from harness.durations import parse_duration_s
    from harness.runner.suite import prepare_suite, run_suite

    plan = prepare_suite(
        args.paths,
        out_dir=args.out,
        duration_s=parse_duration_s(args.duration, "--duration") if args.duration else None,
        workers=args.workers,
        thresholds=args.threshold,
        readback_timeout_s=parse_duration_s(args.readback_timeout, "--readback-timeout"),
    )

    def echo(line: str) -> None:
        print(line, flush=True)

    results, code = run_suite(plan, echo)
    width = max(len(r.name) for r in results) if results else 0
    for result in results:
        print(f"{result.name.ljust(width)}  {result.verdict:<5}  exit {result.exit_code}  "
              f"{result.run_dir}")  # fmt: skip
    print(f"index: {plan.out_dir / 'index.html'}", flush=True)
    print(f"junit: {plan.out_dir / 'junit.xml'}", flush=True)
    return code
