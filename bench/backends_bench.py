"""The disaster-recovery scenarios on both backends in one table: the SQLite deployment
(`scenarios/*.toml`) and the HA PostgreSQL cluster (`scenarios/postgresql/*.toml`).

    python bench/backends_bench.py [--repeats 3] [--only NAME ...] [--out DIR]

Each file runs as `harness scenario FILE --workers 1` at its own length (its own profile and
objectives), one after the other, in a child process each. Per scenario and backend: medians
over `--repeats` runs of RTO, time to detect, user-visible outage, RPO, lost and acknowledged
writes, the share of arrival-rate starts dropped (the open model's clients turned away at the
ceiling), and the ratio of the PostgreSQL RTO to the SQLite one measured in the same command.
About 45 s per SQLite run and 90-140 s per PostgreSQL run here (cluster start included).
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
from typing import Any

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
ORDER = ("database-failover", "database-failover-sync", "api-failure", "regional-failure",
         "complete-outage", "data-corruption", "security-breach")  # fmt: skip
FIGURES = ("rto_s", "ttd_s", "outage_s", "rpo_s", "lost_writes", "acknowledged_writes")


def measure(path: Path, out: Path) -> dict[str, Any]:
    """Run one scenario file in a child process; its recovery figures and verdict."""
    command = [sys.executable, "-m", "harness", "scenario", str(path), "--workers", "1",
               "--out", str(out)]  # fmt: skip
    subprocess.run(command, check=False, capture_output=True, text=True, timeout=900)
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"verdict": "no summary"}
    recovery = summary.get("recovery") or {}
    dropped = (summary.get("totals") or {}).get("dropped")
    figures = {key: recovery.get(key) for key in FIGURES}
    return {**figures, "dropped": dropped, "verdict": summary.get("verdict")}


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    """Median of a figure over repeats (None when never measured)."""
    values = [row[key] for row in rows if isinstance(row.get(key), int | float)]
    return statistics.median(values) if values else None


def percent(share: float | None) -> float | None:
    """A share as a percentage (None stays None: a closed-model run drops nothing)."""
    return None if share is None else 100 * share


def cell(value: float | None, digits: int = 2) -> str:
    """A table cell: `-` for a figure not measured."""
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", action="append", choices=ORDER)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="harness-backends-", dir="/tmp"))
    names = args.only or list(ORDER)
    header = ["scenario", "backend", "RTO s", "ttd s", "outage s", "RPO s", "lost", "acked",
              "dropped %", "RTO ratio", "verdicts"]  # fmt: skip
    rows: list[list[str]] = []
    for name in names:
        sqlite_rto = None
        files = (("sqlite", SCENARIOS / f"{name}.toml"),
                 ("postgresql", SCENARIOS / "postgresql" / f"{name}.toml"))  # fmt: skip
        for backend, path in files:
            if not path.is_file():
                continue
            runs = [measure(path, root / f"{backend}-{name}-{time.monotonic_ns()}")
                    for _ in range(args.repeats)]  # fmt: skip
            rto = median(runs, "rto_s")
            sqlite_rto = rto if backend == "sqlite" else sqlite_rto
            ratio = f"{rto / sqlite_rto:.1f}x" if rto and sqlite_rto else "-"
            rows.append([name, backend, cell(rto), cell(median(runs, "ttd_s")),
                         cell(median(runs, "outage_s")), cell(median(runs, "rpo_s")),
                         cell(median(runs, "lost_writes"), 0),
                         cell(median(runs, "acknowledged_writes"), 0),
                         cell(percent(median(runs, "dropped")), 1), ratio,
                         ",".join(str(r.get("verdict")) for r in runs)])  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    print(f"\nmedians of {args.repeats} run(s) each; run directories under {root}\n")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
