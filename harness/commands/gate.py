"""`harness gate RUN_DIR`: judge a finished (or partial) run against thresholds.

Exit codes: 0 every threshold held, 1 a threshold failed, 2 bad input (not a run
directory, a malformed expression, a missing baseline), 3 the run itself failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import EXIT_PASS, EXIT_RUN_FAILED, EXIT_THRESHOLD_FAILED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The gate's flags."""
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run directory")
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="a threshold such as 'p(95)<250ms' or 'GET /api/items: error_rate<1%%' (repeatable)",
    )
    parser.add_argument(
        "--thresholds",
        type=Path,
        metavar="FILE",
        help="thresholds file: TOML `thresholds = [...]` (.toml) or one expression per line",
    )
    parser.add_argument(
        "--baseline", type=Path, metavar="RUN_DIR", help="earlier run to compare with"
    )
    parser.add_argument(
        "--junit", type=Path, metavar="FILE", help="JUnit XML output (default RUN_DIR/junit.xml)"
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="Markdown summary output")


def execute(args: argparse.Namespace) -> int:
    """Judge the run, print the table; the verdict's exit code."""
    from harness.analysis.gate import GateConfig, result_table, run_gate

    config = GateConfig(
        run_dir=args.run_dir,
        thresholds=tuple(args.threshold),
        thresholds_file=args.thresholds,
        baseline_dir=args.baseline,
        junit_path=args.junit,
        markdown_path=args.markdown,
    )
    result = run_gate(config)
    print(result_table(result.summary), flush=True)
    if result.verdict == "error":
        reason = result.summary.get("error") or "run.json status is failed"
        print(f"harness gate: the run itself failed: {reason}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_PASS if result.verdict == "pass" else EXIT_THRESHOLD_FAILED
