"""The front door's cost: one service region reached directly, through our router, through
the deployment's HAProxy front door, and through a plain HAProxy, with wrk in the same run.

    python bench/front_door_bench.py [--repeats 5] [--seconds 3] [--connections 16]

One `harness serve` process (the region); our router in front of it (HTTP health checks as
in the deployment); the deployment's front door (`harness.topology.front_door`: HAProxy in
`mode tcp` driven by that router through its runtime API, no toxic in force, so the router
is out of the data path); and a plain HAProxy 2.6 (`mode http`, keep-alive, a check every
250 ms). wrk (1 thread, keep-alive) on three routes: `/healthz`, `/static/app.css` (a static
edge-cache hit) and `/api/items/1` with a viewer's bearer token (a cached item read: the token
verified, then an api-tier cache hit). Rounds take every target in turn, so noise on the
shared cores hits them alike; the order rotates each round, so that no target always runs
just after the same one (the router leaves work behind when its run ends). Prints the median
req/s of each, the ratio to direct, and the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from harness.service.config import ServiceConfig
from harness.service.server import start_service
from harness.service.tokens import Keyring
from harness.topology.front_door import HaproxyDoor, server_states
from harness.topology.processes import wait_for
from harness.topology.router import HealthCheck, Router

ROUTES = ("/healthz", "/static/app.css", "/api/items/1")  # the last with a viewer's token
HAPROXY = """global
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend front
    bind 127.0.0.1:{port}
    default_backend region
backend region
    option httpchk GET /readyz
    server a 127.0.0.1:{upstream} check inter 250ms
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def wrk(url: str, seconds: int, connections: int, headers: tuple[str, ...] = ()) -> float:
    extra = [arg for header in headers for arg in ("-H", header)]
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", *extra, url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} non-2xx answers")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match is not None, out
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="front-door-bench-"))
    config = ServiceConfig(port=0, workers=1, data_dir=work / "svc", seed_items=100)
    with start_service(config, ready_timeout_s=60) as service:
        token = Keyring(config.data_dir).issue("viewer", "bench")
        headers = {"/api/items/1": (f"Authorization: Bearer {token}",)}
        port = int(service.url.rsplit(":", 1)[1])
        door = HaproxyDoor(free_port(), free_port(), free_port(), (("a", "127.0.0.1", port),), "a")
        router = Router([("a", "127.0.0.1", port)], health=HealthCheck("http"),
                        listen_port=door.router_port, haproxy_admin=door.admin,
                        work_dir=work / "router").start()  # fmt: skip
        door_process = door.spawn(work / "door")
        haproxy_port = free_port()
        cfg = work / "haproxy.cfg"
        cfg.write_text(HAPROXY.format(port=haproxy_port, upstream=port))
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        haproxy = subprocess.Popen(["haproxy", "-f", str(cfg), "-db"], **quiet)  # type: ignore[call-overload]
        try:
            wait_port(haproxy_port)
            wait_for(lambda: server_states(door.admin).get("ep0") == "UP ready", 15,
                     "the front door to route to the region directly")  # fmt: skip
            targets = {"direct": service.url, "our router": router.url, "front door": door.url,
                       "haproxy": f"http://127.0.0.1:{haproxy_port}"}  # fmt: skip
            rates: dict[tuple[str, str], list[float]] = {}
            names = list(targets)
            for round_index in range(args.repeats):
                turn = round_index % len(names)  # no target always runs right after another
                for route in ROUTES:
                    for name in names[turn:] + names[:turn]:
                        url = targets[name]
                        rate = wrk(url + route, args.seconds, args.connections,
                                   headers.get(route, ()))  # fmt: skip
                        rates.setdefault((route, name), []).append(rate)
        finally:
            haproxy.terminate()
            haproxy.wait(timeout=10)
            door_process.stop()
            router.stop()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nwrk -t1 -c{args.connections} -d{args.seconds}s, median of {args.repeats} (one "
          f"service process; {os.cpu_count()} shared cores; load average {load})\n")  # fmt: skip
    print(f"{'route':<18}{'front door':<12}{'req/s':>10}{'vs direct':>11}")
    for route in ROUTES:
        base = statistics.median(rates[(route, "direct")])
        for name in targets:
            median = statistics.median(rates[(route, name)])
            print(f"{route:<18}{name:<12}{median:>10,.0f}{median / base:>11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
