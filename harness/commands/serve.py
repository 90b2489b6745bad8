"""`harness serve`: run the reference service on loopback until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness serve`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=8,
        help="request threads per worker process (default 8): writers waiting on a commit "
        "share the next one",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="database, keys, cache state"
    )
    parser.add_argument(
        "--seed-items",
        type=int,
        default=10_000,
        help="items generated once into a new database (deterministic; default 10000)",
    )
    parser.add_argument(
        "--db-path", type=Path, default=None, help="primary database file (default DATA/items.db)"
    )
    parser.add_argument(
        "--database",
        default=None,
        help="'sqlite' (default: the file above) or a postgresql:// URL; default from "
        "$HARNESS_DATABASE, which keeps a password off the command line",
    )


def execute(args: argparse.Namespace) -> int:
    """Serve until interrupted; prints `serving URL` once ready."""
    from harness.service.config import ENV_DATABASE, ENV_STATEMENT_TIMING, ServiceConfig
    from harness.service.server import serve

    config = ServiceConfig(
        host=args.host,
        port=args.port,
        workers=args.workers,
        data_dir=args.data_dir,
        seed_items=args.seed_items,
        db_path=args.db_path,
        threads=args.threads,
        database=args.database or os.environ.get(ENV_DATABASE) or "sqlite",
        # off only to measure what timing costs (bench/profiler_bench.py, docs/profiling.md)
        statement_timing=os.environ.get(ENV_STATEMENT_TIMING, "1") != "0",
    )
    serve(config)
    return 0
