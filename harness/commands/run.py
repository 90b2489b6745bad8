"""`harness run`: a load test against the embedded reference service or `--host`.

Builds a typed `RunConfig` from the flags, checks what can be checked before anything
starts (profile, durations, locustfile syntax, target reachability) without importing
Locust, then runs the load, judges it (summary.json, report.html, junit.xml), prints the
table, and returns the verdict's exit code: 0 pass, 1 a threshold failed, 2 bad input,
3 run failed, 4 interrupted or unfinished (an incomplete run never passes).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.commands.exits import exit_code_of
from harness.errors import ConfigError, RunFailed
from harness.rundir.thresholds import parse_thresholds

if TYPE_CHECKING:
    from harness.load.config import RunConfig
    from harness.rundir import Verdict

DEFAULT_USERS_DURATION = "30s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness run`."""
    add = parser.add_argument
    add("--profile", metavar="NAME|FILE", help="light, moderate, heavy, extreme or a .toml file")
    add("--duration", metavar="DUR", help="total length; rescales the profile's stages (30s, 2m)")
    add("--users", type=int, metavar="N", help="a plain closed-model load of N users (no profile)")
    add("--spawn-rate", type=float, metavar="R", help="users started per second with --users")
    add("--workers", type=int, metavar="N", help="local worker processes (default: CPU count)")
    add("--expect-workers", type=int, metavar="N", help="workers to wait for (default: --workers)")
    add("--expect-workers-timeout", default="30s", metavar="DUR", help="how long to wait for them")
    add("--master-bind", default="127.0.0.1", metavar="HOST[:PORT]", help="where workers connect")
    add(
        "--host", metavar="URL", help="test this base URL instead of starting the reference service"
    )
    add(
        "--locustfile",
        type=Path,
        metavar="FILE",
        help="run your own Locust users instead (its LoadTestShape drives when no profile/users)",
    )
    add("--out", type=Path, metavar="DIR", help="run directory (default: reports/<run-id>/)")
    add("--threshold", action="append", default=[], metavar="EXPR", help="e.g. 'p(95)<250ms'")
    add_abort_arguments(parser)
    add("--seed-items", type=int, default=None, metavar="N", help="items in the embedded service")
    add("--service-workers", type=int, default=1, metavar="N", help="embedded service processes")
    add_cluster_arguments(parser)
    add_profiling_arguments(parser)


def add_profiling_arguments(parser: argparse.ArgumentParser) -> None:
    """`--profile-dsn` and `--apply-indexes` (run, scenario; docs/profiling.md)."""
    parser.add_argument(
        "--profile-dsn",
        metavar="URL",
        help="also profile this PostgreSQL through pg_stat_statements (postgresql://...)",
    )
    parser.add_argument(
        "--apply-indexes",
        action="store_true",
        help="create the verified recommended indexes in the live database too",
    )


def check_profiling(args: argparse.Namespace) -> None:
    """ConfigError (exit 2, one line) unless `--profile-dsn` can be profiled."""
    if args.profile_dsn:
        from harness.profiling.pg_source import check_profile_dsn

        check_profile_dsn(args.profile_dsn)


def add_abort_arguments(parser: argparse.ArgumentParser) -> None:
    """`--abort-on-fail` and `--delay-abort-eval` (run, scenario)."""
    parser.add_argument(
        "--abort-on-fail",
        action="store_true",
        help="judge every --threshold live each second; stop the run (exit 1) when one fails",
    )
    parser.add_argument(
        "--delay-abort-eval",
        metavar="DUR",
        help="with --abort-on-fail: judge from this long after the load starts (default 0s)",
    )


def add_cluster_arguments(parser: argparse.ArgumentParser, metrics: bool = True) -> None:
    """`--cluster-secret-file` (run, scenario, worker) and `--metrics-bind` (run, scenario)."""
    parser.add_argument(
        "--cluster-secret-file",
        type=Path,
        metavar="FILE",
        help="the secret shared by master and workers (or HARNESS_CLUSTER_SECRET)",
    )
    if metrics:
        parser.add_argument(
            "--metrics-bind",
            metavar="HOST:PORT",
            help="serve the run's Prometheus metrics there (e.g. 127.0.0.1:9646)",
        )


def build_config(args: argparse.Namespace, argv: list[str] | None = None) -> RunConfig:
    """The RunConfig of these flags; ConfigError naming the flag for anything wrong."""
    from harness.aborts import AbortPlan, flag_rules
    from harness.commands.worker import parse_master
    from harness.durations import parse_duration_s
    from harness.load.config import DEFAULT_SEED_ITEMS, RunConfig
    from harness.load.profile_file import load_profile
    from harness.load.profiles import constant_profile

    duration_s = parse_duration_s(args.duration, "--duration") if args.duration else None
    if args.users is not None:
        if args.profile:
            raise ConfigError("expected either --profile or --users, not both", "--users")
        spawn_rate = args.spawn_rate if args.spawn_rate is not None else float(args.users)
        total_s = duration_s or parse_duration_s(DEFAULT_USERS_DURATION)
        profile, profile_name = constant_profile(args.users, spawn_rate, total_s), None
    else:
        if args.spawn_rate is not None:
            raise ConfigError("only meaningful with --users", "--spawn-rate")
        profile = load_profile(args.profile or "light")
        profile_name = profile.name
        if duration_s is not None:
            profile = profile.rescaled(duration_s)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    expect = args.expect_workers if args.expect_workers is not None else workers
    if workers < 0:
        raise ConfigError(f"expected 0 or more, got {workers}", "--workers")
    if expect < 1:
        raise ConfigError(f"expected at least 1 worker in total, got {expect}", "--expect-workers")
    bind_host, bind_port = (args.master_bind, 0)
    if ":" in args.master_bind:
        bind_host, bind_port = parse_master(args.master_bind, "--master-bind")
    if args.seed_items is not None and args.seed_items < 1:
        raise ConfigError(f"expected at least 1, got {args.seed_items}", "--seed-items")
    from harness.load.cluster import check_cluster, load_secret
    from harness.load.metrics import parse_metrics_bind

    secret = load_secret(args.cluster_secret_file)
    check_cluster(bind_host, workers, expect, secret)
    return RunConfig(
        profile=profile,
        profile_name=profile_name,
        workers=workers,
        expect_workers=expect,
        expect_workers_timeout_s=parse_duration_s(
            args.expect_workers_timeout, "--expect-workers-timeout"
        ),
        host=args.host.rstrip("/") if args.host else None,
        locustfile=args.locustfile.resolve() if args.locustfile else None,
        out_dir=args.out,
        thresholds=tuple(parse_thresholds(args.threshold, "--threshold")),
        master_bind_host=bind_host,
        master_bind_port=bind_port,
        seed_items=args.seed_items or DEFAULT_SEED_ITEMS,
        service_workers=args.service_workers,
        argv=tuple(argv if argv is not None else sys.argv),
        cluster_secret=secret,
        metrics_bind=parse_metrics_bind(args.metrics_bind) if args.metrics_bind else None,
        locustfile_shape_limit_s=_shape_limit_s(args, duration_s),
        profile_dsn=args.profile_dsn or None,
        apply_indexes=args.apply_indexes,
        abort=AbortPlan(
            (
                *profile.aborts,
                *flag_rules(tuple(args.threshold), args.abort_on_fail, args.delay_abort_eval),
            )
        ),
    )


def _shape_limit_s(args: argparse.Namespace, duration_s: float | None) -> float | None:
    """How long a LoadTestShape in the locustfile may drive the run; None when a profile or
    `--users` was given (a shape in the file is then a conflict, found when it is loaded)."""
    from harness.load.user_shape import DEFAULT_SHAPE_LIMIT_S

    if args.locustfile is None or args.profile or args.users is not None:
        return None
    return duration_s if duration_s is not None else DEFAULT_SHAPE_LIMIT_S


def execute(args: argparse.Namespace) -> int:
    """Run the load, write summary and report, print the table; the verdict's exit code."""
    from harness.analysis.abort import ensure_abortable
    from harness.load.launch import check_reachable, check_target_url
    from harness.load.locustfile import check_locustfile

    config = build_config(args)
    for rule in config.abort.rules:
        ensure_abortable(rule)
    if config.locustfile is not None:
        check_locustfile(config.locustfile)
    if config.host is not None:
        check_target_url(config.host)
        check_reachable(config.host)
    check_profiling(args)

    from harness.load.engine import run_load  # imports Locust: only now that input is good

    outcome = run_load(config)
    print(f"run directory: {outcome.run_dir}", flush=True)
    verdict = _judge(outcome.run_dir)
    if outcome.status == "failed":
        raise RunFailed(outcome.error or "the run failed")
    return exit_code_of(verdict)


def _judge(run_dir: Path) -> Verdict:
    """summary.json, report.html and junit.xml (every part is required: a missing one is a
    broken install, which the command line reports as exit 3); print the table."""
    from harness.report.judge import judge
    from harness.report.tables import summary_table

    judgement = judge(run_dir)
    print(summary_table(judgement.summary), flush=True)
    print(f"report: {judgement.report_path}", flush=True)
    print(f"junit: {judgement.junit_path}", flush=True)
    return judgement.verdict
