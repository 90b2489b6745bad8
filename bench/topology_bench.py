"""The router's cost and the reference deployment's failover times.

    python bench/topology_bench.py [--repeats 3] [--seconds 3] [--front-door auto|haproxy|router]

Starts a deployment (two regions of one `harness serve` process each, default health checks:
every 250 ms, 500 ms timeout, 2 in a row). Table 1: wrk (keep-alive, 1 thread, 16
connections) against GET /healthz on region a's process directly (the baseline) and through
the front door, with and without a 50 ms latency toxic. Table 2: seconds from a fault on
region a until a new connection through the front door gets a 200 again (a fresh connection
every 20 ms, each with a 1 s timeout), and until the router's route changed. Medians of
`--repeats`.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.topology.deployment import Deployment, DeploymentConfig


def wrk_rate_per_s(url: str, seconds: float) -> tuple[float, float]:
    """(requests per second, mean latency ms) from one wrk run."""
    out = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{max(1, round(seconds))}s", f"{url}/healthz"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = re.search(r"Latency\s+([\d.]+)(us|ms|s)", out)
    assert latency is not None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[latency.group(2)]
    return rate, float(latency.group(1)) * scale


def ok(url: str) -> bool:
    """A fresh connection's GET /readyz answered 200 within 1 s."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=1.0)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def seconds_until(predicate: Callable[[], bool], limit_s: float = 30.0) -> float:
    """Seconds until `predicate` holds, polled every 20 ms."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > limit_s:
            raise RuntimeError("condition not met within the limit")
        time.sleep(0.02)
    return time.monotonic() - started


def failover_once(deployment: Deployment, fault: str) -> tuple[float, float]:
    """(seconds to the first 200, seconds to the route change) after `fault` on region a."""
    router = deployment.router
    fault_t = time.time()
    if fault == "sigkill":
        deployment.kill_region_processes("a", restart=False)
    else:
        router.add_toxic("timeout", scope="a", name="cut")
    served_s = seconds_until(lambda: ok(deployment.url))
    seconds_until(lambda: router.status()["active"] == "b")
    changes = [
        e["t"] for e in router.events() if e["kind"] == "route_changed" and e["t"] >= fault_t
    ]
    if fault == "sigkill":
        deployment.restore("a")
    else:
        router.remove_toxic("cut")
    seconds_until(lambda: router.status()["active"] == "a")
    return served_s, changes[0] - fault_t


def main() -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--front-door", choices=("auto", "haproxy", "router"), default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = DeploymentConfig(Path(tmp), seed_items=100, front_door=args.front_door)
        with Deployment(config) as deployment:
            direct = deployment.regions["a"][0].url
            door = deployment.describe()["front_door"]
            rows: dict[str, list[tuple[float, float]]] = {}
            for _ in range(args.repeats):
                rows.setdefault("direct to region a (baseline)", []).append(
                    wrk_rate_per_s(direct, args.seconds))  # fmt: skip
                rows.setdefault(f"through the front door ({door})", []).append(
                    wrk_rate_per_s(deployment.url, args.seconds))  # fmt: skip
                deployment.router.add_toxic("latency", name="lat", latency_ms=50)
                rows.setdefault(f"through {door}, 50 ms latency toxic", []).append(
                    wrk_rate_per_s(deployment.url, args.seconds))  # fmt: skip
                deployment.router.remove_toxic("lat")
            base = statistics.median(r for r, _ in rows["direct to region a (baseline)"])
            print(f"{'GET /healthz, wrk -t1 -c16':<44} {'req/s':>9} {'ratio':>7} {'mean ms':>8}")
            for label, samples in rows.items():
                rate = statistics.median(r for r, _ in samples)
                mean_ms = statistics.median(m for _, m in samples)
                print(f"{label:<44} {rate:>9.0f} {rate / base:>7.2f} {mean_ms:>8.2f}")
            print()
            print(f"{'fault on region a':<44} {'first 200 s':>12} {'route s':>9}")
            for fault in ("sigkill", "blackhole"):
                runs = [failover_once(deployment, fault) for _ in range(args.repeats)]
                served = statistics.median(s for s, _ in runs)
                routed = statistics.median(r for _, r in runs)
                print(f"{fault:<44} {served:>12.3f} {routed:>9.3f}")


if __name__ == "__main__":
    main()
