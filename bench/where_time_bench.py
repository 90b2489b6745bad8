"""What "Where the time goes" costs: the worker's per-request cache tap and the master's
per-record cache journal against the interval recorder every request already pays, the RSS
sample of a run's processes, and the TTL replay of a long run's request stream.

    python bench/where_time_bench.py [--repeats 7] [--requests 200000]

Each figure is the median of `--repeats`; the baseline (the recorder's `on_request`) is
measured in the same command, on the same synthetic FastHttpUser-like response.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from geventhttpclient.useragent import CompatRequest

from harness.analysis.cache_replay import SCALES, replay
from harness.load.cache_journal import CacheJournal
from harness.load.cache_log import CacheTap
from harness.load.memory_sampler import MemorySampler
from harness.load.recorder import IntervalRecorder
from harness.rundir import CacheRecord, RunDir, TierWindows

WINDOWS = {"static": TierWindows(31_536_000.0), "html": TierWindows(10.0, 30.0),
           "api": TierWindows(5.0, 0.0, 60.0), "dynamic": TierWindows(0.0)}  # fmt: skip


def _per_call_us(call: Callable[[], object], calls: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


def _stream(n: int) -> list[CacheRecord]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        t = i * 0.005
        if rng.random() < 0.05:
            write = ("items", "item:1")
            out.append(CacheRecord(t, t + 0.01, "PATCH /api/items/{id}", "/api/items/1",
                                   "dynamic", "BYPASS", 200, 9000, None, write))  # fmt: skip
            continue
        item = rng.randrange(2000)
        out.append(CacheRecord(t, t + 0.004, "GET /api/items/{id}", f"/api/items/{item}", "api",
                               "MISS", 200, 4000, f"item:{item}"))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    request = CompatRequest("http://127.0.0.1:8000/api/items",
                            params={"filter": "category = 'tools'", "limit": 20})  # fmt: skip
    response = SimpleNamespace(headers={"X-Cache": "MISS"}, status_code=200, request=request)
    recorder, tap = IntervalRecorder(), CacheTap(max_per_take=10**9)

    def record() -> None:
        recorder.on_request("GET", "/api/items", 3.2, 512, response=response)

    def tap_one() -> None:
        tap.on_request("GET", "/api/items", 3.2, response=response, start_time=1e9)

    base = _per_call_us(record, 20_000, args.repeats)
    cost = _per_call_us(tap_one, 20_000, args.repeats)
    wire = [1.0, 1.01, "GET /api/items", "/api/items?filter=category+%3D+%27tools%27&limit=20",
            "MISS", 200, 900]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        journal = CacheJournal(RunDir(Path(tmp)))
        batch = [wire] * 1000
        master = _per_call_us(lambda: journal.add(batch), 5, args.repeats) / len(batch)
        journal.close()
    sampler = MemorySampler()
    sampler.track("self", "master", os.getpid(), tree=True)
    sample = _per_call_us(sampler.sample, 200, args.repeats)
    stream = _stream(args.requests)
    replay_s = statistics.median(
        _timed(lambda: [replay(stream, WINDOWS, s) for s in SCALES]) for _ in range(3)
    )
    print(f"{'figure':<44}{'median':>14}{'vs baseline':>14}")
    print(f"{'recorder on_request (baseline)':<44}{base:>11.2f} us{1.0:>13.2f}x")
    print(f"{'cache tap on_request':<44}{cost:>11.2f} us{cost / base:>13.2f}x")
    print(f"{'master: cache journal, per record':<44}{master:>11.2f} us{master / base:>13.2f}x")
    print(f"{'RSS sample of this process tree':<44}{sample:>11.2f} us")
    print(f"{f'TTL replay, 4 scales, {args.requests:,} requests':<44}{replay_s:>12.2f} s")


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
