"""Where a short `harness run` spends the time that is not load, against bare interpreters.

    python bench/startup_bench.py [--repeats 3] [--duration 5s] [--profile light]

Every end-to-end test and every CI gate pays, per `harness run`, the interpreter, the
imports, the embedded service's start, the workers' start, the stop, summary.json and the
report with its charts. This times them, in the same command:

- baselines: `python -c pass` (the interpreter), `python -c "import locust"` (what any
  Locust process pays), and fresh-process imports of the master's and the report's code;
- one `harness run --profile P --duration D` per repeat, cut into phases by its own
  timestamps: events.jsonl (run_started, service_started, the first stage, the last
  worker_quit, run_stopped), the modification times of summary.json and report.html, and
  the moment the process exited.

Each row is the median of repeats; the ratio is against `import locust`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = (
    ("start: interpreter, imports, config", "launch", "run_started"),
    ("embedded service up", "run_started", "service_started"),
    ("workers joined, first stage", "service_started", "stage"),
    ("load (planned stages)", "stage", "worker_quit"),
    ("stop: workers, service, files", "worker_quit", "run_stopped"),
    ("summary.json", "run_stopped", "summary"),
    ("report.html with charts", "summary", "report"),
    ("junit, table, exit", "report", "exit"),
    ("whole `harness run`", "launch", "exit"),
)


def _fresh_s(code: str) -> float:
    """Wall seconds of `python -c code` in a new interpreter."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def _run_phases(out: Path, profile: str, duration: str) -> dict[str, float]:
    """One `harness run`, and the wall-clock moment of each milestone (epoch seconds)."""
    command = [sys.executable, "-m", "harness", "run", "--profile", profile]
    command += ["--duration", duration, "--out", str(out)]
    moments = {"launch": time.time()}
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    moments["exit"] = time.time()
    for line in (out / "events.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        kind = event["kind"]
        if kind == "stage":
            moments.setdefault("stage", event["t"])
        elif kind == "worker_quit":
            moments["worker_quit"] = event["t"]  # the last one
        elif kind in ("run_started", "service_started", "run_stopped"):
            moments[kind] = event["t"]
    moments["summary"] = (out / "summary.json").stat().st_mtime
    moments["report"] = (out / "report.html").stat().st_mtime
    return moments


def _row(label: str, seconds: list[float], baseline_s: float) -> str:
    median = statistics.median(seconds)
    spread = f"{min(seconds):.2f}-{max(seconds):.2f}"
    return f"{label:<42}{median:>9.2f}{spread:>13}{median / baseline_s:>9.2f}x"


def main() -> None:
    """Time the baselines and the runs, print one table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", default="light")
    parser.add_argument("--duration", default="5s")
    args = parser.parse_args()
    fresh = {
        "python -c pass": "pass",
        "import locust (baseline)": "import locust",
        "import harness.load.engine (master)": "import harness.load.engine",
        "import harness.report.judge (report)": "import harness.report.judge",
    }
    samples: dict[str, list[float]] = {label: [] for label in fresh}
    samples.update({label: [] for label, _, _ in PHASES})
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        for repeat in range(args.repeats):
            for label, code in fresh.items():
                samples[label].append(_fresh_s(code))
            moments = _run_phases(Path(tmp) / f"run-{repeat}", args.profile, args.duration)
            for label, start, end in PHASES:
                samples[label].append(moments[end] - moments[start])
    baseline_s = statistics.median(samples["import locust (baseline)"])
    print(
        f"harness run --profile {args.profile} --duration {args.duration}: "
        f"median of {args.repeats}, ratio against `import locust`"
    )
    print(f"{'phase':<42}{'wall s':>9}{'range':>13}{'ratio':>10}")
    for label, seconds in samples.items():
        print(_row(label, seconds, baseline_s))


if __name__ == "__main__":
    main()
