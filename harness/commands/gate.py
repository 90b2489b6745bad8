"""`harness gate RUN_DIR`: judge a finished (or partial) run against thresholds.

Exit codes: 0 every threshold held, 1 a threshold failed, 2 bad input (not a run
directory, a malformed expression, a missing baseline), 3 the run itself failed, 4 the run
was interrupted or never finished (unless `--allow-incomplete`: then judged on its data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import EXIT_RUN_FAILED


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
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="judge an interrupted or unfinished run on its data instead of failing it (exit 4)",
    )


def execute(args: argparse.Namespace) -> int:
    """Judge the run, print the table; the verdict's exit code."""
    from harness.commands.exits import exit_code_of
    from harness.report.judge import judge
    from harness.report.tables import result_table
    from harness.rundir import Verdict

    judgement = judge(
        args.run_dir,
        tuple(args.threshold),
        args.baseline,
        thresholds_file=args.thresholds,
        junit_path=args.junit,
        markdown_path=args.markdown,
        allow_incomplete=args.allow_incomplete,
    )
    print(result_table(judgement.summary), flush=True)
    if judgement.verdict is Verdict.ERROR:
        reason = judgement.summary.error or "run.json status is failed"
        print(f"harness gate: the run itself failed: {reason}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if judgement.verdict is Verdict.INCOMPLETE:
        print(
            f"harness gate: the run did not finish (status {judgement.summary.status.value}); "
            "an incomplete run never passes (--allow-incomplete judges its data)",
            file=sys.stderr,
        )
    return exit_code_of(judgement.verdict)
