"""Throughput of the reference service, one worker process, against its own ceiling.

    /work/venv/bin/python bench/service_bench.py [--duration 10] [--repeats 3]

The server (1 worker) runs on core 0 and wrk on core 1. Each round runs every scenario for
the same duration; the table shows medians over rounds, and each scenario's ratio to the
ceiling (a trivial route, /healthz, on the same server) is the median of same-round ratios,
so machine noise that hits a whole round cancels. A last table measures what
synchronous=FULL costs per write, in-process, against NORMAL.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from _common import WRK, lua_write, process_tree_cpu_s, wrk_parser

from harness.service.config import ServiceConfig
from harness.service.server import start_service
from harness.service.storage import Actor, SqliteDatabase, Storage, create_sqlite
from harness.service.tokens import Keyring

FILTER = "price%3E%3D10%3Bstatus%20in%20(active%2Cpending)"


@dataclass(frozen=True)
class Scenario:
    """One wrk run: what it requests and what it should reach."""

    name: str
    path: str
    auth: bool = False
    lua: str | None = None
    goal: str = ""


def _lua_busted_read(prefix: str) -> str:
    # Each request adds `name != <prefix><n>`, true of every item, so each is a new edge key
    # (the service refuses unknown parameters, so a `&r=n` cache buster is a 400 now).
    return f"""
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/items?filter={FILTER}%3Bname!%3D{prefix}" .. n .. "&limit=50")
end
"""


def scenarios(prefix: str) -> list[Scenario]:
    """The ceiling first, then what is compared with it."""
    return [
        Scenario("ceiling: GET /healthz", "/healthz"),
        Scenario("CDN hit: GET /static/app.css", "/static/app.css", goal=">= 50% of ceiling"),
        Scenario("CDN hit: GET /api/items/42 (token)", "/api/items/42", True, goal=">= 50%"),
        Scenario(
            "filtered read, cached (token)",
            f"/api/items?filter={FILTER}&limit=50",
            True,
        ),
        Scenario(
            "filtered read, origin (token)",
            "/api/items",
            True,
            _lua_busted_read(prefix),
            ">= 2,000 req/s",
        ),
        Scenario("write: POST /api/items (token)", "/api/items", True, "write", ">= 1,000 req/s"),
    ]


@dataclass(frozen=True)
class WrkResult:
    """One run: rate, p99 latency, answers that were not 2xx/3xx, requests, and the CPU
    seconds the server's processes used meanwhile (robust to other load on the core)."""

    rate_per_s: float
    p99_ms: float
    errors: int
    requests: int = 0
    server_cpu_s: float = 0.0

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per request, in microseconds."""
        return self.server_cpu_s / self.requests * 1e6 if self.requests else float("nan")


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(
    base_url: str,
    scenario: Scenario,
    token: str,
    duration_s: int,
    connections: int,
    lua: Path | None,
    server_pid: int,
) -> WrkResult:
    """Run wrk pinned to core 1 and parse its summary; count the server's CPU meanwhile."""
    command = [
        "taskset",
        "-c",
        "1",
        WRK,
        "-t1",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
    ]
    if scenario.auth:
        command += ["-H", f"Authorization: Bearer {token}"]
    if lua is not None:
        command += ["-s", str(lua)]
    command.append(base_url + scenario.path)
    cpu_before_s = process_tree_cpu_s(server_pid)
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 30).stdout
    cpu_s = process_tree_cpu_s(server_pid) - cpu_before_s
    total = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if rate is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    failed = int(errors.group(1)) if errors else 0
    if socket_errors:
        failed += sum(int(g) for g in socket_errors.groups())
    return WrkResult(
        float(rate.group(1)),
        float(p99.group(1)) * _UNITS_MS[p99.group(2)] if p99 else float("nan"),
        failed,
        int(total.group(1)) if total else 0,
        cpu_s,
    )


def fsync_cost(directory: Path, writes: int) -> dict[str, float]:
    """Idempotent creates per second through Storage, with synchronous FULL and NORMAL."""
    rates = {}
    for mode in ("FULL", "NORMAL"):
        path = directory / f"sync-{mode}.db"
        create_sqlite(path, 0)
        storage = Storage(SqliteDatabase(path, synchronous=mode))
        fields = {"name": "x", "category": "tools", "price": 1.0, "quantity": 1, "status": "active"}
        started = time.perf_counter()
        for number in range(writes):
            storage.create(fields, f"k{number}", Actor())
        rates[mode] = writes / (time.perf_counter() - started)
    return rates


def write_lua_scripts(runs: list[Scenario], prefix: str, work: Path) -> dict[str, Path]:
    """Each scenario's wrk Lua script, written under `work`, by scenario name."""
    luas: dict[str, Path] = {}
    for scenario in runs:
        if scenario.lua is not None:
            text = lua_write(prefix) if scenario.lua == "write" else scenario.lua
            luas[scenario.name] = work / f"{len(luas)}.lua"
            luas[scenario.name].write_text(text)
    return luas


def measure(
    runs: list[Scenario], luas: dict[str, Path], work: Path, args: argparse.Namespace
) -> dict[str, list[WrkResult]]:
    """Start the server on core 0, warm every scenario up, then run the rounds."""
    config = ServiceConfig(
        port=0, workers=1, data_dir=work / "data", seed_items=10_000, threads=args.threads
    )
    os.sched_setaffinity(0, {0})  # the server and its worker inherit core 0
    service = start_service(config, ready_timeout_s=60)
    os.sched_setaffinity(0, {1})
    results: dict[str, list[WrkResult]] = {s.name: [] for s in runs}
    try:
        token = Keyring(config.data_dir).issue("admin", "bench", ttl_s=24 * 3600)
        plan = [(1, runs)] + [(args.duration, runs)] * args.repeats  # warm-up first
        for round_number, (duration_s, scenarios_in_round) in enumerate(plan):
            for scenario in scenarios_in_round:
                lua = luas.get(scenario.name)
                result = run_wrk(
                    service.url, scenario, token, duration_s, args.connections, lua, service.pid
                )
                if round_number > 0:
                    results[scenario.name].append(result)
    finally:
        service.stop()
    return results


def main() -> int:
    """Run the benchmark and print the tables."""
    args = wrk_parser(__doc__).parse_args()
    if not Path(WRK).exists() or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        print("needs /usr/bin/wrk, taskset and 2 cores", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="service-bench-"))
    prefix = uuid.uuid4().hex[:8]
    runs = scenarios(prefix)
    results = measure(runs, write_lua_scripts(runs, prefix, work), work, args)
    print_table(runs, results, args)
    rates = fsync_cost(work, 1500)
    print()
    print("| storage writes in-process | writes/s | us per write |")
    print("| --- | --- | --- |")
    for mode, rate in rates.items():
        print(f"| synchronous={mode} | {rate:,.0f} | {1e6 / rate:,.0f} |")
    print(f"| cost of FULL over NORMAL | | {1e6 / rates['FULL'] - 1e6 / rates['NORMAL']:,.0f} |")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def print_table(
    runs: list[Scenario], results: dict[str, list[WrkResult]], args: argparse.Namespace
) -> None:
    """Medians over rounds; ratios are medians of same-round ratios to the ceiling."""
    ceiling = results[runs[0].name]
    print(
        f"service_bench: 1 worker ({args.threads} threads) on core 0, wrk -t1 -c{args.connections} "
        f"on core 1, {args.duration}s x {args.repeats} rounds, medians. CPU columns: the server's"
        " own CPU time per request (from /proc), so other load on the core does not count."
    )
    print()
    print(
        "| scenario | req/s | of ceiling | p99 ms | non-2xx | server CPU us/req "
        "| req/s per server core | of ceiling | goal |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for scenario in runs:
        rounds = results[scenario.name]
        rate = statistics.median(r.rate_per_s for r in rounds)
        ratio = statistics.median(
            r.rate_per_s / c.rate_per_s for r, c in zip(rounds, ceiling, strict=True)
        )
        p99 = statistics.median(r.p99_ms for r in rounds)
        errors = sum(r.errors for r in rounds)
        cpu_us = statistics.median(r.cpu_us_per_request for r in rounds)
        cpu_ratio = statistics.median(
            c.cpu_us_per_request / r.cpu_us_per_request
            for r, c in zip(rounds, ceiling, strict=True)
        )
        cells = [scenario.name, f"{rate:,.0f}", f"{ratio:.0%}", f"{p99:.1f}", str(errors)]
        cells += [f"{cpu_us:,.0f}", f"{1e6 / cpu_us:,.0f}", f"{cpu_ratio:.0%}"]
        print("| " + " | ".join([*cells, scenario.goal]) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
