"""What the benchmarks share: pinning to a core, CPU accounting from /proc, wrk, the write.

The benchmarks run as scripts (`python bench/x.py`), so this module is imported as
`_common` from their folder.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from pathlib import Path

from harness.service.config import ServiceConfig
from harness.service.server import ServiceProcess, start_service

WRK = "/usr/bin/wrk"
SERVICE_CORE, LOAD_CORE = 0, 1
ITEM_BODY = '{"name":"Bench Widget","category":"tools","price":12.5,"quantity":3}'


def lua_write(prefix: str) -> str:
    """A wrk script that POSTs ITEM_BODY, each request with its own Idempotency-Key."""
    body = ITEM_BODY.replace('"', '\\"')
    return f"""
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  wrk.headers["Idempotency-Key"] = "{prefix}-" .. n
  return wrk.format("POST", "/api/items", nil, "{body}")
end
"""


def pinned(core: int, command: list[str]) -> list[str]:
    """`command` run on one core only (taskset)."""
    return ["taskset", "-c", str(core), *command]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` and all its descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(member, 0.0) for member in tree)


def start_pinned_service(data_dir: Path, core: int = SERVICE_CORE) -> ServiceProcess:
    """The service (1 worker, 500 items), its processes inheriting the affinity to `core`."""
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        config = ServiceConfig(port=0, workers=1, data_dir=data_dir, seed_items=500)
        return start_service(config, ready_timeout_s=60)
    finally:
        os.sched_setaffinity(0, mine)


def wrk_rate(url: str, connections: int, seconds: int, core: int = LOAD_CORE) -> float:
    """Requests per second wrk reaches on `url`/healthz, pinned to `core`."""
    command = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", f"{url}/healthz"]
    done = subprocess.run(pinned(core, command), check=True, capture_output=True, text=True)
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    assert match, done.stdout
    return float(match.group(1))


def wrk_parser(doc: str) -> argparse.ArgumentParser:
    """The options of the wrk benchmarks: seconds per run, rounds, connections, threads."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=8, help="server threads per worker")
    return parser
