"""How long summary.json of a one-hour, 20-name run takes, against what merely reading costs.

    /work/venv/bin/python bench/summary_bench.py [--rate 100] [--names 20] [--repeats 3]

Writes a synthetic run directory (harness.testing.make_run_dir: one hour,
72,000 interval lines with real HdrHistograms), then times, in the same command:

- `read lines`: json-parsing every line of intervals.jsonl and nothing else (the floor);
- `hdrh merge`: hdrh's own `decode_and_add` for every `hdr` and `hdr_corrected` blob
  (what a straightforward implementation would do; one repeat, it is slow);
- `summarize`: harness.analysis.summary.summarize, the whole summary.json.

Each row is the median of repeats; the ratio is against the floor.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.analysis import histograms
from harness.analysis.summary import summarize
from harness.rundir import iter_jsonl
from harness.testing import make_run_dir


def _read_lines(run_dir: Path) -> None:
    for _line in iter_jsonl(run_dir / "intervals.jsonl"):
        pass


def _hdrh_merge(run_dir: Path) -> None:
    totals: dict[tuple[str, str], histograms.HdrHistogram] = {}
    for line in iter_jsonl(run_dir / "intervals.jsonl"):
        for field in ("hdr", "hdr_corrected"):
            if line.get(field):
                key = (line["name"], field)
                if key not in totals:
                    totals[key] = histograms.new_histogram()
                totals[key].decode_and_add(line[field])


def _median_s(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Build the run directory, time each way of reading it, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s over all names")
    parser.add_argument("--names", type=int, default=20)
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-hdrh", action="store_true", help="skip the slow reference")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        start = time.perf_counter()
        run = make_run_dir(
            run_dir,
            duration_s=args.duration,
            names=[f"GET /api/route-{i}" for i in range(args.names)],
            rate_per_s=args.rate,
            failure_windows=[(600, 630, 0.5)],
            lost_workers=1,
        )
        made_s = time.perf_counter() - start
        lines = sum(1 for _ in (run_dir / "intervals.jsonl").open())
        size_mb = (run_dir / "intervals.jsonl").stat().st_size / 1e6
        print(
            f"make_run_dir: {made_s:.1f} s for {lines} lines ({size_mb:.0f} MB), "
            f"{run.requests()} requests"
        )
        rows = [("read lines (floor)", _median_s(lambda: _read_lines(run_dir), args.repeats))]
        if not args.skip_hdrh:
            rows.append(("hdrh merge (1 repeat)", _median_s(lambda: _hdrh_merge(run_dir), 1)))
        rows.append(("summarize", _median_s(lambda: summarize(run_dir), args.repeats)))
    floor = rows[0][1]
    print(f"{'step':<24} {'median s':>9} {'x floor':>8}")
    for label, seconds in rows:
        print(f"{label:<24} {seconds:>9.2f} {seconds / floor:>8.2f}")


if __name__ == "__main__":
    main()
