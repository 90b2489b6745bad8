"""`harness down`: stop the reference deployment that `harness up` started."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness down`."""
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="the data dir given to harness up"
    )
    parser.add_argument(
        "--timeout", default="30s", help="how long to wait for processes to exit (default 30s)"
    )


def execute(args: argparse.Namespace) -> int:
    """Stop every process of the deployment; exit 0 also when nothing was running."""
    from harness.durations import parse_duration_s
    from harness.topology.daemon import down

    stopped = down(args.data_dir, timeout_s=parse_duration_s(args.timeout, "--timeout"))
    if stopped is None:
        print(f"harness down: nothing running in {args.data_dir}", file=sys.stderr)
    else:
        print(f"harness down: stopped the deployment in {args.data_dir}", file=sys.stderr)
    return 0
