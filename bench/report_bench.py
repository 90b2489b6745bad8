"""How long the HTML report of a one-hour, 20-name run takes to build, against a 10 s goal.

    /work/venv/bin/python bench/report_bench.py [--rate 300] [--repeats 3] [--keep DIR]

Writes a synthetic run directory (harness.testing.make_run_dir: one hour, 20
request names, a fault with a failure window, a lost worker), then times `write_report`:
cold (summary.json absent, so it is computed first) and warm (summary.json present), the
median of `--repeats` each, with the breakdown by step of the warm renders.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness.report.html import render_report, write_report
from harness.testing import make_run_dir

GOAL_S = 10.0


def _make(path: Path, rate_per_s: float) -> float:
    start = time.perf_counter()
    make_run_dir(
        path,
        duration_s=3600,
        names=[f"GET /api/route-{i:02d}" for i in range(20)],
        rate_per_s=rate_per_s,
        kind="scenario",
        scenario="bench-hour",
        faults=[(1800, 1830, "kill-primary")],
        failure_windows=[(1800, 1812, 0.9)],
        slow_windows=[(1812, 1825, 4.0)],
        workers=4,
        lost_workers=1,
        ledger_writes=5000,
        thresholds=["p(95)<250ms", "error_rate<1%", "rto<30s"],
    )
    return time.perf_counter() - start


def _fresh(path: Path) -> None:
    """Touch intervals.jsonl so no measurement reuses the columns a previous one read."""
    os.utime(path / "intervals.jsonl")


def _cold(path: Path) -> tuple[float, float]:
    """(wall s, CPU s) of write_report when summary.json must be computed first."""
    (path / "summary.json").unlink(missing_ok=True)
    _fresh(path)
    start, cpu = time.perf_counter(), time.process_time()
    write_report(path)
    return time.perf_counter() - start, time.process_time() - cpu


def _warm(path: Path) -> tuple[float, float, dict[str, float]]:
    """(wall s, CPU s, wall s per step) of write_report with summary.json present."""
    _fresh(path)
    start, cpu = time.perf_counter(), time.process_time()
    write_report(path)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    _fresh(path)
    return wall, cpu, render_report(path).timings_s


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="requests/s over all names")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="write the run dir here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp)) / "bench-hour"
        made_s = _make(path, args.rate)
        size_mb = (path / "intervals.jsonl").stat().st_size / 1e6
        lines = sum(1 for _ in (path / "intervals.jsonl").open())
        cold = [_cold(path) for _ in range(args.repeats)]
        warm_runs = [_warm(path) for _ in range(args.repeats)]
        report_kb = (path / "report.html").stat().st_size / 1e3
    steps = {k: statistics.median(r[2][k] for r in warm_runs) for k in warm_runs[0][2]}
    print(
        f"run dir: 1 h, 20 names, {args.rate:g} req/s, {lines:,} interval lines, "
        f"{size_mb:.1f} MB intervals.jsonl (made in {made_s:.1f} s); report {report_kb:.0f} kB"
    )
    print(
        f"{'measure (median of ' + str(args.repeats) + ')':<40}{'wall s':>8}{'cpu s':>8}"
        f"{'wall / 10 s goal':>18}"
    )
    print("-" * 74)
    rows = [
        ("write_report, summary.json absent", [r[0] for r in cold], [r[1] for r in cold]),
        (
            "write_report, summary.json present",
            [r[0] for r in warm_runs],
            [r[1] for r in warm_runs],
        ),
    ]
    for label, walls, cpus in rows:
        wall = statistics.median(walls)
        print(f"{label:<40}{wall:>8.2f}{statistics.median(cpus):>8.2f}{wall / GOAL_S:>17.2f}x")
    for name, value in steps.items():
        print(f"{'  step: ' + name:<40}{value:>8.2f}{'':>8}{value / GOAL_S:>17.2f}x")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
