"""How long the HTML report of a one-hour, 20-name run takes to build, against a 10 s goal.

    /work/venv/bin/python bench/report_bench.py [--rate 300] [--repeats 3] [--keep DIR]

Writes a synthetic run directory (harness.analysis.synthetic.make_run_dir: one hour, 20
request names, a fault with a failure window, a lost worker), then times `write_report`:
cold (summary.json absent, so it is computed first) and warm (summary.json present), the
median of `--repeats` each, with the breakdown by step of the warm renders.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness.analysis.synthetic import make_run_dir
from harness.report.html import render_report, write_report

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


def _cold_s(path: Path) -> float:
    (path / "summary.json").unlink(missing_ok=True)
    start = time.perf_counter()
    write_report(path)
    return time.perf_counter() - start


def _warm(path: Path) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    write_report(path)
    total = time.perf_counter() - start
    return total, render_report(path).timings_s


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
        cold = [_cold_s(path) for _ in range(args.repeats)]
        warm_runs = [_warm(path) for _ in range(args.repeats)]
        report_kb = (path / "report.html").stat().st_size / 1e3
    warm = [total for total, _ in warm_runs]
    steps = {k: statistics.median(t[k] for _, t in warm_runs) for k in warm_runs[0][1]}
    print(f"run dir: 1 h, 20 names, {args.rate:g} req/s, {lines:,} interval lines, "
          f"{size_mb:.1f} MB intervals.jsonl (made in {made_s:.1f} s); report {report_kb:.0f} kB")  # fmt: skip
    print(f"{'measure':<42}{'median s':>10}{'vs 10 s goal':>14}")
    print("-" * 66)
    rows = [(f"write_report, summary.json absent (x{args.repeats})", statistics.median(cold)),
            (f"write_report, summary.json present (x{args.repeats})", statistics.median(warm))]  # fmt: skip
    rows += [(f"  step: {name}", value) for name, value in steps.items()]
    for label, value in rows:
        print(f"{label:<42}{value:>10.2f}{value / GOAL_S:>13.2f}x")


if __name__ == "__main__":
    main()
