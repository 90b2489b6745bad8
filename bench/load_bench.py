"""What the harness's recording costs and how exact it is, against baselines in the same run.

    /work/venv/bin/python bench/load_bench.py [--seconds 8] [--repeats 5] [--users 16]
                                              [--scale-seconds 600]

One reference service (`harness serve`, one worker process) pinned to core 0 serves
GET /healthz; every load generator is pinned to core 1 and runs for the same time:

1. throughput: headless `locust` (one process, no wait) with a plain FastHttpUser, the same
   user with the harness's recorder on Locust's request event (shipping every second), and
   wrk as the yardstick; medians of `--repeats`, taken in turns so noise hits them alike;
2. accuracy: a `harness run` whose locustfile also logs every response time to a side
   file; summary.json's P50/P95/P99/P99.9 against numpy's exact percentiles of those
   same values (nearest rank: `np.percentile(..., method="inverted_cdf")`);
3. scale: a `harness run --profile moderate` (our users) sampling the master's RSS each
   second; RSS and intervals.jsonl size extrapolated to one hour.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import LOAD_CORE, SERVICE_CORE, cpu_s, pinned, start_pinned_service, wrk_rate

from harness.service.server import ServiceProcess

PLAIN = """
from locust import FastHttpUser, task


class Health(FastHttpUser):
    @task
    def health(self):
        self.client.get("/healthz")
"""
RECORDED = (
    PLAIN
    + """
import gevent
from locust import events

from harness.load.recorder import IntervalRecorder

recorder = IntervalRecorder()
events.request.add_listener(recorder.on_request)


def ship_every_second():
    while True:
        gevent.sleep(1.0)
        recorder.take()  # encodes every finished second, as a worker does before sending
        recorder.take_ledger()


@events.test_start.add_listener
def start_shipping(environment, **_kwargs):
    gevent.spawn(ship_every_second)
"""
)
SIDE_LOG = (
    PLAIN
    + """
import os

from locust import events

SIDE = open(os.environ["BENCH_SIDE_FILE"] + f".{os.getpid()}", "w")


@events.request.add_listener
def log_response_time(response_time, exception=None, **_kwargs):
    if exception is None:
        SIDE.write(f"{response_time!r}\\n")


@events.quitting.add_listener
def close_side_file(**_kwargs):
    SIDE.close()
"""
)


def locust_rate(
    locustfile: Path, url: str, users: int, seconds: int, out: Path
) -> tuple[float, float]:
    """(requests per second, requests per CPU second) of a headless one-process locust run.

    The CPU of the load process is sampled during the run, so a neighbour stealing the core
    lowers the first number but not the second.
    """
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless"]
    command += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", url]
    command += ["--only-summary", "--skip-log-setup", "--json-file", str(out)]
    process = subprocess.Popen(
        pinned(LOAD_CORE, command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    samples: list[tuple[float, float]] = []
    while process.poll() is None:
        try:
            samples.append((time.time(), cpu_s(process.pid)))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.2)
    assert process.wait(timeout=seconds + 60) == 0
    stats = json.loads(out.with_suffix(".json").read_text())
    entry = next(s for s in stats if s["name"] == "/healthz")
    start, end = entry["start_time"], entry["last_request_timestamp"]
    times, cpus = np.array([t for t, _ in samples]), np.array([c for _, c in samples])
    used_cpu_s = float(np.interp(end, times, cpus) - np.interp(start, times, cpus))
    return entry["num_requests"] / (end - start), entry["num_requests"] / used_cpu_s


def recorder_cost_us(calls: int = 200_000) -> float:
    """CPU microseconds per request of the recorder alone (Locust's request event handler)."""
    from harness.load.recorder import IntervalRecorder

    recorder = IntervalRecorder()
    names = [f"/route/{i}" for i in range(12)]
    latencies_ms = np.random.default_rng(1).lognormal(np.log(5.0), 0.8, size=calls)
    start = time.process_time()
    for i in range(calls):
        recorder.on_request("GET", names[i % 12], float(latencies_ms[i]), 512, context={})
        if i % 2_000 == 0:
            recorder.take()
    recorder.take(final=True)
    return (time.process_time() - start) / calls * 1e6


def throughput(url: str, folder: Path, users: int, seconds: int, repeats: int) -> dict[str, float]:
    """Medians of req/s (and of req per CPU second for the two Locust runs)."""
    files = {"plain": folder / "plain.py", "recorded": folder / "recorded.py"}
    files["plain"].write_text(PLAIN)
    files["recorded"].write_text(RECORDED)
    keys = ("plain", "recorded", "plain_cpu", "recorded_cpu", "wrk")
    rates: dict[str, list[float]] = {key: [] for key in keys}
    for i in range(repeats):
        for name, path in files.items():
            rate, per_cpu = locust_rate(path, url, users, seconds, folder / f"{name}-{i}")
            rates[name].append(rate)
            rates[f"{name}_cpu"].append(per_cpu)
        rates["wrk"].append(wrk_rate(url, users, seconds))
        print(f"  repeat {i + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rates.items()))
    return {name: statistics.median(values) for name, values in rates.items()}


def harness_run(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    command = pinned(LOAD_CORE, [sys.executable, "-m", "harness", "run", *args])
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def accuracy(url: str, folder: Path, users: int, seconds: int) -> dict[str, tuple[float, float]]:
    """{percentile: (summary.json ms, exact ms)} for the same requests."""
    locustfile = folder / "side.py"
    locustfile.write_text(SIDE_LOG)
    side = folder / "side-times"
    run_dir = folder / "accuracy-run"
    args = ["--host", url, "--locustfile", str(locustfile), "--users", str(users)]
    args += ["--spawn-rate", str(users), "--duration", f"{seconds}s", "--workers", "1"]
    run = harness_run([*args, "--out", str(run_dir)], env={"BENCH_SIDE_FILE": str(side)})
    _, err = run.communicate(timeout=seconds + 120)
    assert run.returncode == 0, err.decode()
    exact_ms = np.concatenate(
        [np.loadtxt(p, ndmin=1) for p in folder.glob("side-times.*") if p.stat().st_size]
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    endpoint = summary["endpoints"]["GET /healthz"]
    assert endpoint["requests"] - endpoint["failures"] == exact_ms.size, (endpoint, exact_ms.size)
    out = {}
    for key, p in (("p50", 50), ("p95", 95), ("p99", 99), ("p99.9", 99.9)):
        exact = float(np.percentile(exact_ms, p, method="inverted_cdf"))
        out[key] = (float(endpoint["latency_ms"][key]), exact)
    out["max"] = (float(endpoint["latency_ms"]["max"]), float(exact_ms.max()))
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def scale(service: ServiceProcess, folder: Path, seconds: int) -> dict[str, float]:
    """Master RSS (MiB) at the start of steady load and per hour; intervals.jsonl MiB/hour."""
    from harness.service.tokens import Keyring

    keyring = Keyring(service.config.data_dir)
    roles = ("admin", "user", "viewer", "service")
    env = {f"HARNESS_TOKEN_{r.upper()}": keyring.issue(r, f"bench-{r}", 7200) for r in roles}
    run_dir = folder / "scale-run"
    args = ["--host", service.url, "--profile", "moderate", "--duration", f"{seconds}s"]
    run = harness_run([*args, "--workers", "1", "--out", str(run_dir)], env=env)
    samples: list[tuple[float, int]] = []
    while run.poll() is None:
        if (run_dir / "intervals.jsonl").exists():
            samples.append((time.monotonic(), rss_kib(run.pid)))
        time.sleep(1.0)
    assert run.returncode == 0, run.stderr.read().decode() if run.stderr else ""
    lines = [json.loads(x) for x in (run_dir / "intervals.jsonl").read_text().splitlines()]
    covered_s = max(x["t"] for x in lines) - min(x["t"] for x in lines) + 1
    steady = samples[len(samples) // 2 : -3] or samples  # after the live window filled
    t = np.array([s[0] for s in steady]) - steady[0][0]
    rss = np.array([s[1] for s in steady], dtype=float) / 1024
    slope_mib_per_s = float(np.polyfit(t, rss, 1)[0]) if len(t) > 2 else 0.0
    size_mib = (run_dir / "intervals.jsonl").stat().st_size / 2**20
    return {
        "rss_steady_mib": float(rss.mean()),
        "rss_growth_mib_per_h": slope_mib_per_s * 3600,
        "intervals_mib_per_h": size_mib / covered_s * 3600,
        "names": len({x["name"] for x in lines}),
        "rate_per_s": sum(x["requests"] for x in lines) / covered_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--scale-seconds", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        folder = Path(tmp)
        service = start_pinned_service(folder / "data")
        try:
            print(f"service {service.url} on core {SERVICE_CORE}; load on core {LOAD_CORE}")
            rates = throughput(service.url, folder, args.users, args.seconds, args.repeats)
            rates["recorder_us"] = recorder_cost_us()
            errors = accuracy(service.url, folder, args.users, args.seconds)
            grown = scale(service, folder, args.scale_seconds)
        finally:
            service.stop()
    print_table(rates, errors, grown, args)


def print_table(
    rates: dict[str, float],
    errors: dict[str, tuple[float, float]],
    grown: dict[str, float],
    args: argparse.Namespace,
) -> None:
    print(
        f"\nGET /healthz, {args.users} users/connections, {args.seconds}s runs, "
        f"median of {args.repeats}"
    )
    rows = [
        ("req/s  wrk (yardstick)", f"{rates['wrk']:.0f}", "", ""),
        (
            "req/s  plain Locust FastHttpUser",
            f"{rates['plain']:.0f}",
            f"{rates['plain'] / rates['wrk']:.2f} of wrk",
            "",
        ),
        (
            "req/s  FastHttpUser + harness recorder",
            f"{rates['recorded']:.0f}",
            f"{rates['recorded'] / rates['plain']:.3f} of plain",
            ">= 0.90",
        ),
        ("req per CPU-s  plain Locust", f"{rates['plain_cpu']:.0f}", "", ""),
        (
            "req per CPU-s  + harness recorder",
            f"{rates['recorded_cpu']:.0f}",
            f"{rates['recorded_cpu'] / rates['plain_cpu']:.3f} of plain",
            ">= 0.90",
        ),
        (
            "recorder CPU us per request (in process)",
            f"{rates['recorder_us']:.1f}",
            f"{rates['recorder_us'] * rates['plain_cpu'] / 1e6:.1%} of a Locust request",
            "",
        ),
    ]
    for key, (got, exact) in errors.items():
        error = abs(got - exact) / exact if exact else 0.0
        goal = "<= 1%" if key != "max" else ""
        rows.append(
            (f"{key} ms  summary.json vs exact", f"{got:.3f}", f"{exact:.3f} ({error:.3%})", goal)
        )
    rows += [
        (
            f"master RSS MiB ({grown['names']:.0f} names, {grown['rate_per_s']:.0f} req/s)",
            f"{grown['rss_steady_mib']:.1f}",
            f"{grown['rss_growth_mib_per_h']:+.1f} MiB/h",
            "",
        ),
        ("intervals.jsonl MiB per hour", f"{grown['intervals_mib_per_h']:.1f}", "", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
