"""`harness scenario FILE`: one disaster-recovery scenario under load, judged.

Checks the whole scenario first (exit 2 before anything starts), runs it (progress lines),
prints the per-request table, the recovery table and the run directory, and returns the
verdict's exit code: 0 pass, 1 an objective or threshold failed, 3 the run itself failed,
4 the run was interrupted or did not finish.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.commands.run import add_abort_arguments
from harness.errors import RunFailed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness scenario`."""
    add = parser.add_argument
    add("file", type=Path, metavar="FILE", help="a scenario .toml file")
    add("--duration", metavar="DUR", help="rescale the timeline to this total length (60s)")
    add("--out", type=Path, metavar="DIR", help="run directory (default: reports/<run-id>/)")
    add("--workers", type=int, default=1, metavar="N", help="local load workers (default: 1)")
    add("--threshold", action="append", default=[], metavar="EXPR", help="e.g. 'rto<30s'")
    add("--locustfile", type=Path, metavar="FILE", help="run your own Locust users instead")
    add_abort_arguments(parser)
    add(
        "--max-error-budget",
        type=float,
        metavar="N",
        help="abort when the observation has used more than N times its error budget",
    )
    add(
        "--readback-timeout",
        default="20s",
        metavar="DUR",
        help="how long the read-back of acknowledged writes waits for the target",
    )
    from harness.commands.run import add_cluster_arguments, add_profiling_arguments

    add_cluster_arguments(parser)
    add_profiling_arguments(parser)


def execute(args: argparse.Namespace) -> int:
    """Run the scenario; the verdict's exit code."""
    from harness.aborts import flag_rules
    from harness.durations import parse_duration_s
    from harness.load.cluster import load_secret
    from harness.load.metrics import parse_metrics_bind
    from harness.runner import prepare_scenario

    config = prepare_scenario(
        args.file,
        duration_s=parse_duration_s(args.duration, "--duration") if args.duration else None,
        out_dir=args.out,
        workers=args.workers,
        thresholds=args.threshold,
        readback_timeout_s=parse_duration_s(args.readback_timeout, "--readback-timeout"),
        argv=sys.argv,
        locustfile=args.locustfile,
        cluster_secret=load_secret(args.cluster_secret_file),
        metrics_bind=parse_metrics_bind(args.metrics_bind) if args.metrics_bind else None,
        flag_aborts=flag_rules(tuple(args.threshold), args.abort_on_fail, args.delay_abort_eval),
        max_error_budget=args.max_error_budget,
    )
    from dataclasses import replace

    from harness.commands.run import check_profiling

    check_profiling(args)
    config = replace(config, profile_dsn=args.profile_dsn, apply_indexes=args.apply_indexes)
    from harness.commands.exits import exit_code_of
    from harness.report.tables import recovery_table, summary_table
    from harness.runner.run import run_scenario

    def echo(line: str) -> None:
        print(line, flush=True)

    outcome = run_scenario(config, echo)
    print(summary_table(outcome.summary))
    print(recovery_table(outcome.summary))
    print(f"run directory: {outcome.run_dir}", flush=True)
    print(f"report: {outcome.run_dir / 'report.html'}", flush=True)
    if outcome.status == "failed":
        raise RunFailed(outcome.error or "the scenario run failed")
    return exit_code_of(outcome.summary.verdict)
