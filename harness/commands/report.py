"""`harness report RUN_DIR [--baseline RUN_DIR]`: render a run directory's HTML report."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReportConfig:
    """What to render: a run directory, and optionally a baseline run to compare with."""

    run_dir: Path
    baseline: Path | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness report`."""
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="an earlier run directory; the report flags regressions against it",
    )


def execute(args: argparse.Namespace) -> int:
    """Write RUN_DIR/report.html (computing summary.json first if absent); print its path."""
    from harness.report.html import write_report

    config = ReportConfig(run_dir=args.run_dir, baseline=args.baseline)
    print(write_report(config.run_dir, config.baseline))
    return 0
