"""What the cluster secret and the live metrics cost, against baselines in the same command.

    /work/venv/bin/python bench/cluster_bench.py [--seconds 8] [--repeats 5] [--users 16]
                                                 [--names 20] [--scrapes 50]

1. HMAC: one reference service (one process) pinned to core 0 serves GET /healthz; a
   headless one-process `locust` pinned to core 1 runs a FastHttpUser with the harness's
   recorder, shipping every second as a worker does, in two forms taken in turns:
   `unsealed` msgpack-encodes the intervals payload as Locust would send it (the cost
   before the cluster secret); `sealed` also seals it with `Channel.seal` and opens and
   checks it with a master's `Channel.open` + `check_intervals` in the same process (both
   sides' cost, so an upper bound for a worker). Requests per CPU second of the load
   process, medians of `--repeats`, and their ratio.
2. Scrape: `RunMetrics` holding `--names` request names (each with a merged histogram of
   a minute of lines) behind prometheus_client's server; `--scrapes` GETs of /metrics:
   median time and the response size; and the master's cost per merged line observed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import start_pinned_service
from load_bench import PLAIN, locust_rate

SHIPPING = (
    PLAIN
    + """
import gevent
import msgpack
from locust import events

from harness.load import cluster, message_checks, messages
from harness.load.recorder import IntervalRecorder

SEALED = {sealed}
recorder = IntervalRecorder()
events.request.add_listener(recorder.on_request)
secret = cluster.ClusterSecret(b"bench-secret-bench-secret", "file")
master = cluster.Channel(secret, master=True, run_id="bench-run")
worker = cluster.Channel(secret, master=False)
hello = master.open(messages.HELLO, worker.hello("w1"), "w1")
worker.open(messages.CONFIG, master.seal(messages.CONFIG, {{"nonce": hello["nonce"]}}, "w1"), "w1")


def ship_every_second():
    while True:
        gevent.sleep(1.0)
        payload = {{"entries": recorder.take(), "through_t": 0.0, "ledger": recorder.take_ledger()}}
        if SEALED:
            envelope = worker.seal(messages.INTERVALS, payload, "w1")
            msgpack.dumps(envelope)
            message_checks.check_intervals(master.open(messages.INTERVALS, envelope, "w1"))
        else:
            msgpack.dumps(payload)


@events.test_start.add_listener
def start_shipping(environment, **_kwargs):
    gevent.spawn(ship_every_second)
"""
)


def hmac_cost(url: str, folder: Path, users: int, seconds: int, repeats: int) -> dict[str, float]:
    """Medians of requests per CPU second, unsealed and sealed, taken in turns."""
    files = {"unsealed": folder / "unsealed.py", "sealed": folder / "sealed.py"}
    files["unsealed"].write_text(SHIPPING.format(sealed=False))
    files["sealed"].write_text(SHIPPING.format(sealed=True))
    per_cpu: dict[str, list[float]] = {name: [] for name in files}
    for i in range(repeats):
        for name, path in files.items():
            out = folder / f"{name}{i}"
            per_cpu[name].append(locust_rate(path, url, users, seconds, out)[1])
        print(f"  repeat {i + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in per_cpu.items()))
    return {name: statistics.median(values) for name, values in per_cpu.items()}


def seal_cost_us(names: int, repeats: int = 200) -> tuple[float, int]:
    """(CPU us to seal, open and check one intervals message of `names` names, its body
    size): a worker ships one such message a second."""
    from harness.analysis.histograms import encode, new_histogram, record_us
    from harness.load import cluster, message_checks, messages
    from harness.load.recorder import FINE_SLOTS

    rng = np.random.default_rng(5)
    entries = []
    for i in range(names):
        hist = new_histogram()
        for value in rng.lognormal(np.log(5_000), 1.0, size=150).astype(int):
            record_us(hist, int(value))
        entries.append(
            {"t": 1.0, "name": f"GET /route/{i}", "requests": 150, "failures": 0, "bytes": 1,
             "clipped": 0, "fine_ok": [15] * FINE_SLOTS, "fine_fail": [0] * FINE_SLOTS,
             "errors": {}, "hdr": encode(hist), "hdr_corrected": encode(hist), "hdr_fail": None}
        )  # fmt: skip
    payload = {"entries": entries, "through_t": 2.0, "ledger": []}
    secret = cluster.ClusterSecret(b"bench-secret-bench-secret", "file")
    master = cluster.Channel(secret, master=True, run_id="bench-run")
    worker = cluster.Channel(secret, master=False)
    hello = master.open(messages.HELLO, worker.hello("w1"), "w1")
    config = master.seal(messages.CONFIG, {"nonce": hello["nonce"]}, "w1")
    worker.open(messages.CONFIG, config, "w1")
    start = time.process_time()
    for _ in range(repeats):
        envelope = worker.seal(messages.INTERVALS, payload, "w1")
        message_checks.check_intervals(master.open(messages.INTERVALS, envelope, "w1"))
    return (time.process_time() - start) / repeats * 1e6, len(envelope["body"])


def scrape_cost(names: int, scrapes: int) -> tuple[float, int, float]:
    """(median /metrics time in ms, its size in bytes, master microseconds per line)."""
    from harness.analysis.histograms import encode, new_histogram, record_us
    from harness.load.metrics import MetricsServer, RunMetrics

    rng = np.random.default_rng(3)
    lines = []
    for i in range(names):
        hist = new_histogram()
        for value in rng.lognormal(np.log(5_000), 1.0, size=200).astype(int):
            record_us(hist, int(value))
        name = f"GET /route/{i}"
        lines.append({"name": name, "requests": 200, "failures": 2, "hdr": encode(hist)})
    metrics = RunMetrics("bench")
    start = time.process_time()
    for _second in range(60):
        for line in lines:
            metrics.observe_line(line)
    per_line_us = (time.process_time() - start) / (60 * names) * 1e6
    server = MetricsServer(metrics, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.port}/metrics"
    times_ms, size = [], 0
    try:
        for _ in range(scrapes):
            began = time.perf_counter()
            with urllib.request.urlopen(url, timeout=10) as response:
                size = len(response.read())
            times_ms.append((time.perf_counter() - began) * 1000)
    finally:
        metrics.scraped_version = metrics.version
        server.stop()
    return statistics.median(times_ms), size, per_line_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--names", type=int, default=20)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        folder = Path(tmp)
        service = start_pinned_service(folder / "data")
        try:
            rates = hmac_cost(service.url, folder, args.users, args.seconds, args.repeats)
        finally:
            service.stop()
    scrape_ms, size, per_line_us = scrape_cost(args.names, args.scrapes)
    message_us, body_bytes = seal_cost_us(args.names)
    ratio = rates["sealed"] / rates["unsealed"]
    print()
    print("| measure | value | baseline | goal |")
    print("| --- | --- | --- | --- |")
    print(
        f"| req per CPU second, unsealed / sealed | {rates['unsealed']:,.0f} / "
        f"{rates['sealed']:,.0f} | {ratio:.3f} of unsealed | >= 0.98 |"
    )
    print(
        f"| seal + open + check, one intervals message of {args.names} names "
        f"({body_bytes:,} bytes) | {message_us:,.0f} us | "
        f"{message_us / 1e4:.3f}% of a CPU second | once a second per worker |"
    )
    print(f"| /metrics at {args.names} names, median of {args.scrapes} | {scrape_ms:.2f} ms | | |")
    print(f"| /metrics size at {args.names} names | {size:,} bytes | | |")
    print(f"| master CPU per merged line observed | {per_line_us:.1f} us | | |")


if __name__ == "__main__":
    main()
