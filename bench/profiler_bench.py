"""What the service's statement timing costs: requests per CPU-second with and without it.

    python bench/profiler_bench.py [--repeats 7] [--chunks 10]          # in process (default)
    python bench/profiler_bench.py --http [--duration 5] [--repeats 7]  # over HTTP with wrk

Default, in process: two apps of the reference service (`create_app`, 20,000 seeded items
each, separate data dirs) differ only in `statement_timing`; the same database-bound mix
(below) is sent to each through WSGI, in chunks of 50 requests that alternate between the
two apps (40 chunks each per round), so a noisy neighbour on this shared machine slows
both alike. Requests per CPU-second = requests / this process's CPU seconds
(`time.process_time`) spent in each app. The ratio that counts is the median over rounds
of each round's timed/untimed ratio (both sides of it saw the same requests at nearly the
same moments). Without the HTTP server's own work, which timing does not change, this
ratio is the conservative one.

`--http`: two `harness serve` processes (1 worker each, 20,000 seeded items, both pinned to
one core) differ only in `statement_timing`; wrk (pinned to the other core) sends each the same
database-bound mix in turns within each round: a quarter `GET /api/items/{id}` over 20,000
ids, the rest `GET /api/items?filter=price < X.YZ&limit=20` over 50,000 prices, with a new
random sequence each round (the same for both services), so that the edge cache (fresh
for 5 s) answers few of them and nearly every request runs statements. Requests per
CPU-second = requests wrk completed / the service's CPU seconds (user + system, its whole
process tree, from /proc) over the same run. Each row is the median of the rounds; the
ratio (timed / untimed) must stay >= 0.95 (docs/profiling.md).
"""

from __future__ import annotations

import json
import random
import re
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
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
        service = start_service(config, ready_timeout_s=120)
    finally:
        os.sched_setaffinity(0, mine)
    token = Keyring(data_dir).issue("service", "bench-check", 60)
    request = urllib.request.Request(
        f"{service.url}/admin/statements", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        enabled = json.loads(answer.read())["enabled"]
    if enabled is not timing:  # the comparison would be meaningless
        service.stop()
        raise SystemExit(f"{data_dir.name}: statement timing is {enabled}, expected {timing}")
    return service


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


CHUNK = 50


def _paths(seed: int) -> Iterator[str]:
    """The mix of the Lua script: a quarter by id, the rest filtered by a random price."""
    rng = random.Random(seed)
    while True:
        if rng.random() < 0.25:
            yield f"/api/items/{rng.randint(1, ITEMS)}"
        else:
            price = f"{rng.randint(1, 499)}.{rng.randint(0, 99)}"
            yield f"/api/items?limit=20&filter=price%20%3C%20{price}"


def _wsgi(app: Any, token: str) -> Callable[[str], None]:
    import falcon.testing

    headers = {"Authorization": f"Bearer {token}"}
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
        statuses.append(status)

    def call(path: str) -> None:
        path_only, _, query = path.partition("?")
        env = falcon.testing.create_environ(path=path_only, query_string=query, headers=headers)
        statuses.clear()
        for _ in app(env, start_response):
            pass
        if not statuses[0].startswith("200"):
            raise SystemExit(f"{path}: {statuses[0]}")

    return call


def in_process(repeats: int, chunks: int) -> dict[str, list[float]]:
    """Requests per CPU-second of each app, per round."""
    from harness.service.app import create_app

    rates: dict[str, list[float]] = {"untimed": [], "timed": []}
    with tempfile.TemporaryDirectory(prefix="profiler-bench-") as tmp:
        calls = {}
        for label, timing in (("untimed", False), ("timed", True)):
            data_dir = Path(tmp) / label
            config = ServiceConfig(data_dir=data_dir, seed_items=ITEMS, statement_timing=timing)
            app = create_app(config)
            calls[label] = _wsgi(app, Keyring(data_dir).issue("viewer", "bench", 3600))
        seeds = iter(range(1, 10**9))
        for label in calls:  # warm-up: page cache, statement caches
            paths = _paths(0)
            for _ in range(CHUNK):
                calls[label](next(paths))
        for _ in range(repeats):
            cpu = dict.fromkeys(calls, 0.0)
            for i in range(chunks):
                seed = next(seeds)
                order = ("untimed", "timed") if i % 2 == 0 else ("timed", "untimed")
                for label in order:
                    paths = _paths(seed)
                    todo = [next(paths) for _ in range(CHUNK)]
                    started = time.process_time()
                    for path in todo:
                        calls[label](path)
                    cpu[label] += time.process_time() - started
            for label in calls:
                rates[label].append(chunks * CHUNK / cpu[label])
    return rates


def over_http(args: Any) -> dict[str, list[float]]:
    """Requests per CPU-second of each `harness serve`, per round (wrk)."""
    rates: dict[str, list[float]] = {"untimed": [], "timed": []}
    with tempfile.TemporaryDirectory(prefix="profiler-bench-") as tmp:
        root = Path(tmp)
        services = {
            "untimed": _start(root / "untimed", timing=False),
            "timed": _start(root / "timed", timing=True),
        }
        try:
            tokens = {
                label: Keyring(service.config.data_dir).issue("viewer", "bench", 3600)
                for label, service in services.items()
            }

            def script(label: str, seed: int) -> Path:
                path = root / f"{label}-{seed}.lua"
                path.write_text(LUA % {"seed": seed, "token": tokens[label], "items": ITEMS})
                return path

            for label, service in services.items():
                _round(service, script(label, 1000), args, 1)  # warm-up: page cache
            for i in range(args.repeats):
                order = ("untimed", "timed") if i % 2 == 0 else ("timed", "untimed")
                for label in order:
                    rate = _round(services[label], script(label, i + 1), args, args.duration)
                    rates[label].append(rate)
        finally:
            for service in services.values():
                service.stop()
    return rates


def main() -> None:
    """Measure both ways of serving, print the table and the ratio."""
    parser = wrk_parser(__doc__ or "")
    parser.set_defaults(duration=5, repeats=7, connections=16)
    parser.add_argument("--http", action="store_true", help="over HTTP with wrk")
    parser.add_argument("--chunks", type=int, default=40, help="chunks per app and round")
    args = parser.parse_args()
    rates = over_http(args) if args.http else in_process(args.repeats, args.chunks)
    untimed = statistics.median(rates["untimed"])
    timed = statistics.median(rates["timed"])
    mode = "over HTTP (wrk)" if args.http else f"in process, {args.chunks} x {CHUNK} per round"
    print(f"mode: {mode}")
    print(f"{'service':<28} {'req per CPU-s (median)':>24} {'rounds':>8}")
    print(f"{'without statement timing':<28} {untimed:>24.0f} {args.repeats:>8}")
    print(f"{'with statement timing':<28} {timed:>24.0f} {args.repeats:>8}")
    paired = statistics.median(t / u for t, u in zip(rates["timed"], rates["untimed"], strict=True))
    print(f"ratio of the medians, timed/untimed: {timed / untimed:.3f}")
    print(f"median of the per-round ratios (same round, same requests): {paired:.3f} (>= 0.95)")
    print("rounds untimed:", " ".join(f"{r:.0f}" for r in rates["untimed"]))
    print("rounds timed:  ", " ".join(f"{r:.0f}" for r in rates["timed"]))


if __name__ == "__main__":
    main()
