"""Recovery of the six disaster-recovery scenarios under the Moderate profile, and how the
standby's sync interval sets Database Failover's data loss.

    /work/venv/bin/python bench/dr_bench.py [--duration 30s] [--repeats 1] [--out DIR]
        [--intervals 0.5,2,5] [--sweep-repeats N] [--sweep-only] [--only NAME ...]

Each scenario of `scenarios/` runs as in `harness scenario FILE --duration 30s --workers 1`
(the short form: 30 s timelines instead of a realistic few minutes), with its profile
replaced by Moderate (~200 req/s, ~20 writes/s). Table 1: RTO, time to detect, user-visible
outage, RPO and lost writes of each. Table 2: Database Failover with the standby synced
every 0.5, 2 and 5 s: RPO and lost writes (median, mean, max: where the injection falls in
the sync cycle is chance), and the ratio of their means to the 0.5 s baseline measured in
the same command. Medians of `--repeats` runs; each run is its own process (the load engine
patches its process with gevent). About 45 s per run here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
ORDER = ("database-failover", "api-failure", "regional-failure", "complete-outage",
         "data-corruption", "security-breach")  # fmt: skip
FIGURES = ("rto_s", "ttd_s", "outage_s", "rpo_s", "lost_writes", "acknowledged_writes")


def run_one(name: str, out: Path, duration_s: float, standby_s: float | None) -> None:
    """Child process: one scenario under Moderate (and a standby interval), judged."""
    from harness.runner.config import ScenarioRunConfig, check_scenario
    from harness.runner.run import run_scenario
    from harness.scenarios import ProfileSpec, load_scenario

    scenario = load_scenario(SCENARIOS / f"{name}.toml", duration_s)
    scenario = dataclasses.replace(scenario, profile=ProfileSpec(name="moderate"))
    if standby_s is not None:
        deployment = dataclasses.replace(scenario.deployment, standby_interval_s=standby_s)
        scenario = dataclasses.replace(scenario, deployment=deployment)
    config = ScenarioRunConfig(scenario=scenario, out_dir=out, workers=1)
    check_scenario(config)
    run_scenario(config, echo=lambda line: None)


def measure(name: str, root: Path, duration_s: float, standby_s: float | None) -> dict[str, Any]:
    """Run one scenario in a child process; its recovery figures and verdict."""
    out = root / f"{name}-{standby_s or 'default'}-{time.monotonic_ns()}"
    command = [sys.executable, __file__, "--child", name, "--out", str(out),
               "--duration", f"{duration_s:g}s"]  # fmt: skip
    if standby_s is not None:
        command += ["--standby", str(standby_s)]
    subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"verdict": "no summary"}
    recovery = summary.get("recovery") or {}
    return {**{key: recovery.get(key) for key in FIGURES}, "verdict": summary.get("verdict"),
            "rps": (summary.get("totals") or {}).get("rps")}  # fmt: skip


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    """Median of a figure over repeats (None when never measured)."""
    values = [row[key] for row in rows if isinstance(row.get(key), int | float)]
    return statistics.median(values) if values else None


def cell(value: float | None, digits: int = 2) -> str:
    """A table cell: `-` for a figure not measured."""
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A plain-text table, first column left-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        cells = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        print("  ".join([row[0].ljust(widths[0]), *cells]))


def scenarios_table(results: dict[str, list[dict[str, Any]]]) -> None:
    """Table 1: one row per scenario, medians of the repeats."""
    header = ["scenario (Moderate)", "RTO s", "ttd s", "outage s", "RPO s", "lost writes",
              "acked writes", "req/s", "verdicts"]  # fmt: skip
    rows = []
    for name, runs in results.items():
        verdicts = ",".join(str(run.get("verdict")) for run in runs)
        rows.append([name, cell(median(runs, "rto_s")), cell(median(runs, "ttd_s")),
                     cell(median(runs, "outage_s")), cell(median(runs, "rpo_s")),
                     cell(median(runs, "lost_writes"), 0),
                     cell(median(runs, "acknowledged_writes"), 0),
                     cell(median(runs, "rps"), 0), verdicts])  # fmt: skip
    print_table(header, rows)


def standby_table(results: dict[float, list[dict[str, Any]]]) -> None:
    """Table 2: Database Failover's loss per standby interval, against the first interval.

    Where the injection falls in the sync cycle is chance, so RPO spreads over
    [0, interval]: the table gives the median, the mean and the largest of the repeats.
    """
    header = ["standby interval s", "RPO s med", "mean", "max", "lost med", "mean", "max",
              "RPO mean ratio", "lost mean ratio", "RTO s med"]  # fmt: skip
    base = next(iter(results.values()))
    base_rpo, base_lost = mean(base, "rpo_s"), mean(base, "lost_writes")
    rows = []
    for interval, runs in results.items():
        rows.append([f"{interval:g}", cell(median(runs, "rpo_s")), cell(mean(runs, "rpo_s")),
                     cell(largest(runs, "rpo_s")), cell(median(runs, "lost_writes"), 0),
                     cell(mean(runs, "lost_writes"), 1), cell(largest(runs, "lost_writes"), 0),
                     _ratio(mean(runs, "rpo_s"), base_rpo),
                     _ratio(mean(runs, "lost_writes"), base_lost),
                     cell(median(runs, "rto_s"))])  # fmt: skip
    print_table(header, rows)


def mean(rows: list[dict[str, Any]], key: str) -> float | None:
    """Mean of a figure over repeats (None when never measured)."""
    values = [row[key] for row in rows if isinstance(row.get(key), int | float)]
    return statistics.fmean(values) if values else None


def largest(rows: list[dict[str, Any]], key: str) -> float | None:
    """Largest value of a figure over repeats."""
    values = [row[key] for row in rows if isinstance(row.get(key), int | float)]
    return max(values) if values else None


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.1f}x"


def main() -> int:
    """Parse flags; run the child, or the whole benchmark and print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--intervals", default="0.5,2,5")
    parser.add_argument("--only", action="append", default=[], help="scenario names")
    parser.add_argument("--out", type=Path, help="keep the run directories here")
    parser.add_argument("--sweep-repeats", type=int, help="repeats of the standby sweep "
                        "(default: --repeats)")  # fmt: skip
    parser.add_argument("--sweep-only", action="store_true", help="only the standby sweep")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--standby", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from harness.durations import parse_duration_s

    duration_s = parse_duration_s(args.duration, "--duration")
    if args.child:
        run_one(args.child, args.out, duration_s, args.standby)
        return 0
    root = args.out or Path(tempfile.mkdtemp(prefix="dr-bench-"))
    names = [n for n in ORDER if (not args.only or n in args.only) and not args.sweep_only]
    started = time.monotonic()
    results = {n: [measure(n, root, duration_s, None) for _ in range(args.repeats)] for n in names}
    print(f"{args.duration} scenario timelines (short form), Moderate profile, one load "
          f"worker; run directories in {root}\n")  # fmt: skip
    if results:
        print(f"Recovery per scenario, medians of {args.repeats}\n")
        scenarios_table(results)
    intervals = [float(x) for x in args.intervals.split(",") if x]
    repeats = args.sweep_repeats or args.repeats
    sweep = {i: [measure("database-failover", root, duration_s, i) for _ in range(repeats)]
             for i in intervals}  # fmt: skip
    print(f"\nDatabase Failover: data lost against the standby's sync interval, {repeats} runs "
          f"each (ratios of means to {intervals[0]:g} s)\n")  # fmt: skip
    standby_table(sweep)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
