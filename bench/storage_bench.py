"""The reference service on PostgreSQL against SQLite: a filtered read and a write, with wrk.

    python bench/storage_bench.py [--duration 10] [--repeats 3]

One service process (1 worker, 8 threads) per backend, both started on core 0 with a
throwaway PostgreSQL 15 (fsync on, as SQLite's synchronous=FULL) also on core 0; wrk on
core 1. In each round every scenario runs on each backend in turn, so machine noise that
hits a round hits both; the table shows medians over rounds and the median of the
same-round PostgreSQL/SQLite ratios. The filtered read varies a predicate per request
(`quantity != N`), so every request misses the edge cache and reaches the database. CPU
per request counts the service's processes and, for PostgreSQL, the server's too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from _common import WRK, lua_write, process_tree_cpu_s, wrk_parser
from service_bench import Scenario, WrkResult, run_wrk

from harness.service.config import ServiceConfig
from harness.service.server import ServiceProcess, start_service
from harness.service.storage.pgserver import PostgresServer, find_pg_bin
from harness.service.tokens import Keyring

BACKENDS = ("sqlite", "postgresql")
FILTER = "price%3E%3D10%3Bstatus%20in%20(active%2Cpending)%3Bquantity!%3D"


def _lua_varying_read() -> str:
    return f"""
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/items?limit=50&filter={FILTER}" .. n)
end
"""


Runs = dict[tuple[str, str], list[tuple[WrkResult, float]]]
"""By (scenario, backend): each round's wrk result and the database server's CPU us/req."""

SCENARIOS = (
    Scenario("GET /healthz (no storage)", "/healthz"),
    Scenario("filtered read, every request a cache miss", "/api/items", True, "read"),
    Scenario("write: POST /api/items, unique keys", "/api/items", True, "write"),
)


class _Backend:
    """One running service on one backend, and the processes whose CPU it costs."""

    def __init__(self, name: str, service: ServiceProcess, token: str, pg_pid: int | None):
        self.name = name
        self.service = service
        self.token = token
        self.pg_pid = pg_pid
        self.last_database_cpu_us = 0.0
        """The database server's CPU per request in the last run (0 for SQLite, in-process)."""

    def run(
        self, scenario: Scenario, duration_s: int, connections: int, lua: Path | None
    ) -> WrkResult:
        """One wrk run; its CPU includes the database server's processes."""
        pg_before_s = process_tree_cpu_s(self.pg_pid) if self.pg_pid else 0.0
        result = run_wrk(
            self.service.url, scenario, self.token, duration_s, connections, lua, self.service.pid
        )
        pg_s = (process_tree_cpu_s(self.pg_pid) - pg_before_s) if self.pg_pid else 0.0
        self.last_database_cpu_us = pg_s / result.requests * 1e6 if result.requests else 0.0
        return WrkResult(
            result.rate_per_s, result.p99_ms, result.errors, result.requests,
            result.server_cpu_s + pg_s,
        )  # fmt: skip


def _start(name: str, work: Path, database: str, threads: int, pg_pid: int | None) -> _Backend:
    config = ServiceConfig(
        port=0, workers=1, data_dir=work / name, seed_items=10_000, threads=threads,
        database=database,
    )  # fmt: skip
    service = start_service(config, ready_timeout_s=120)
    token = Keyring(config.data_dir).issue("admin", "bench", ttl_s=24 * 3600)
    return _Backend(name, service, token, pg_pid)


def measure(args: argparse.Namespace, work: Path, bin_dir: Path) -> Runs:
    """Start PostgreSQL and both services on core 0, then run the rounds from core 1."""
    prefix = uuid.uuid4().hex[:8]
    luas = {"read": work / "read.lua", "write": work / "write.lua"}
    luas["read"].write_text(_lua_varying_read())
    luas["write"].write_text(lua_write(prefix))
    os.sched_setaffinity(0, {0})  # PostgreSQL and both services inherit core 0
    server = PostgresServer(bin_dir).start()
    backends: list[_Backend] = []
    try:
        pg_pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        backends.append(_start("sqlite", work, "sqlite", args.threads, None))
        dsn = server.create_database("bench")
        backends.append(_start("postgresql", work, dsn, args.threads, pg_pid))
        os.sched_setaffinity(0, {1})
        results: Runs = {}
        plan = [1] + [args.duration] * args.repeats  # a 1 s warm-up round first
        for round_number, duration_s in enumerate(plan):
            for scenario in SCENARIOS:
                for backend in backends:
                    lua = luas.get(scenario.lua or "")
                    result = backend.run(scenario, duration_s, args.connections, lua)
                    if round_number > 0:
                        results.setdefault((scenario.name, backend.name), []).append(
                            (result, backend.last_database_cpu_us)
                        )
        return results
    finally:
        for backend in backends:
            backend.service.stop()
        server.stop()


def print_table(runs: Runs, args: argparse.Namespace) -> None:
    """Medians over rounds per backend, and the median same-round PostgreSQL/SQLite ratio."""
    print(
        f"storage_bench: 1 worker ({args.threads} threads) per backend and PostgreSQL 15 on "
        f"core 0, wrk -t1 -c{args.connections} on core 1, {args.duration}s x {args.repeats} "
        "rounds, medians; CPU us/req counts the service and, for PostgreSQL, its server."
    )
    print()
    print(
        "| scenario | SQLite req/s | PostgreSQL req/s | PostgreSQL / SQLite | SQLite p99 ms "
        "| PostgreSQL p99 ms | SQLite CPU us/req | PostgreSQL CPU us/req (of which server) "
        "| non-2xx |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")  # 9 columns
    for scenario in SCENARIOS:
        lite = [result for result, _ in runs[(scenario.name, "sqlite")]]
        pg = [result for result, _ in runs[(scenario.name, "postgresql")]]
        ratio = statistics.median(
            p.rate_per_s / s.rate_per_s for p, s in zip(pg, lite, strict=True)
        )
        cells = [scenario.name]
        cells += [f"{statistics.median(r.rate_per_s for r in rs):,.0f}" for rs in (lite, pg)]
        cells.append(f"{ratio:.2f}")
        cells += [f"{statistics.median(r.p99_ms for r in rs):.1f}" for rs in (lite, pg)]
        cells += [
            f"{statistics.median(r.cpu_us_per_request for r in rs):,.0f}" for rs in (lite, pg)
        ]
        server_us = statistics.median(us for _, us in runs[(scenario.name, "postgresql")])
        cells[-1] += f" ({server_us:,.0f})"
        cells.append(str(sum(r.errors for r in lite + pg)))
        print("| " + " | ".join(cells) + " |")


def main() -> int:
    """Run the benchmark and print the table."""
    args = wrk_parser(__doc__).parse_args()
    bin_dir, reason = find_pg_bin()
    if bin_dir is None:
        print(f"storage_bench: {reason}", file=sys.stderr)
        return 2
    if not Path(WRK).exists() or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        print("storage_bench: needs /usr/bin/wrk, taskset and 2 cores", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="storage-bench-"))
    try:
        print_table(measure(args, work, bin_dir), args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
