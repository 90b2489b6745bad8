"""What the service's statement timing costs: requests per CPU-second with and without it.

    python bench/profiler_bench.py [--duration 5] [--repeats 5] [--connections 16]

Two `harness serve` processes (1 worker each, 20,000 seeded items, both pinned to one core)
differ only in `statement_timing`; wrk (pinned to the other core) sends each the same
database-bound mix in turns within each round: a quarter `GET /api/items/{id}` over 20,000
ids, the rest `GET /api/items?filter=price < X.YZ&limit=20` over 50,000 prices, with a new
random sequence each round (the same for both services), so that the edge cache (fresh
for 5 s) answers few of them and nearly every request runs statements. Requests per
CPU-second = requests wrk completed / the service's CPU seconds (user + system, its whole
process tree, from /proc) over the same run. Each row is the median of the rounds; the
ratio (timed / untimed) must stay >= 0.95 (docs/profiling.md).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from _common import LOAD_CORE, SERVICE_CORE, WRK, pinned, process_tree_cpu_s, wrk_parser

from harness.service.config import ServiceConfig
from harness.service.server import ServiceProcess, start_service
from harness.service.tokens import Keyring

ITEMS = 20_000
LUA = """
math.randomseed(%(seed)d)
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  if math.random() < 0.25 then
    return wrk.format("GET", "/api/items/" .. math.random(1, %(items)d))
  end
  local price = math.random(1, 499) .. "." .. math.random(0, 99)
  return wrk.format("GET", "/api/items?limit=20&filter=price%%20%%3C%%20" .. price)
end
"""


def _start(data_dir: Path, timing: bool) -> ServiceProcess:
    import os

    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {SERVICE_CORE})
    try:
        config = ServiceConfig(
            port=0, workers=1, data_dir=data_dir, seed_items=ITEMS, statement_timing=timing
        )
        return start_service(config, ready_timeout_s=120)
    finally:
        os.sched_setaffinity(0, mine)


def _round(service: ServiceProcess, script: Path, args: Any, seconds: int) -> float:
    """Requests per CPU-second of `service` over one wrk run."""
    connections = args.connections
    command = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), service.url]
    cpu_before = process_tree_cpu_s(service.pid)
    done = subprocess.run(pinned(LOAD_CORE, command), check=True, capture_output=True, text=True)
    cpu_s = process_tree_cpu_s(service.pid) - cpu_before
    requests = re.search(r"(\d+) requests in", done.stdout)
    assert requests, done.stdout
    assert "Non-2xx" not in done.stdout, done.stdout  # every request did its work
    return int(requests.group(1)) / cpu_s


def main() -> None:
    parser = wrk_parser(__doc__ or "")
    parser.set_defaults(duration=5, repeats=5, connections=16)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"untimed": [], "timed": []}
    with tempfile.TemporaryDirectory(prefix="profiler-bench-") as tmp:
        root = Path(tmp)
        services = {
            "untimed": _start(root / "untimed", timing=False),
            "timed": _start(root / "timed", timing=True),
        }
        try:
            scripts = {}
            for label, service in services.items():
                token = Keyring(service.config.data_dir).issue("viewer", "bench", 3600)
                scripts[label] = root / f"{label}.lua"
                text = LUA % {"seed": 7, "token": token, "items": ITEMS}
                scripts[label].write_text(text)
                _round(service, scripts[label], args, 1)  # warm-up: caches, JIT-less paths
            for i in range(args.repeats):
                order = ("untimed", "timed") if i % 2 == 0 else ("timed", "untimed")
                for label in order:
                    rates[label].append(
                        _round(services[label], scripts[label], args, args.duration)
                    )
        finally:
            for service in services.values():
                service.stop()
    untimed = statistics.median(rates["untimed"])
    timed = statistics.median(rates["timed"])
    print(f"{'service':<28} {'req per CPU-s (median)':>24} {'rounds':>8}")
    print(f"{'without statement timing':<28} {untimed:>24.0f} {args.repeats:>8}")
    print(f"{'with statement timing':<28} {timed:>24.0f} {args.repeats:>8}")
    print(f"ratio timed/untimed: {timed / untimed:.3f} (must be >= 0.95)")
    print("rounds untimed:", " ".join(f"{r:.0f}" for r in rates["untimed"]))
    print("rounds timed:  ", " ".join(f"{r:.0f}" for r in rates["timed"]))


if __name__ == "__main__":
    main()
