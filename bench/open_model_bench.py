"""Scheduling accuracy of the two executors: achieved vs target rate, and start-time jitter.

    python bench/open_model_bench.py [--seconds 10] [--repeats 3] [--rates 100,1000]
    python bench/open_model_bench.py --pre-allocated 2 [--rates 500] [--repeats 3]

One reference service (`harness serve`, one process) serves GET /healthz. For each rate and
executor a child process runs Locust in-process (a LocalRunner, FastHttpUser, one core's
worth of gevent) for `--seconds`:

- closed: rate / 10 users, each paced at 10 req/s exactly as the harness's users are
  (Locust's constant_throughput semantics: the next start is due 1/rate after the last due
  one, at once when late); intended start = that due time;
- arrival-rate: the harness's dispatcher (`harness.load.arrivals`) at the rate, uniform
  arrivals, a pool of rate / 5 users; intended start = the schedule's due time.

Achieved = tasks started per second (after a 2 s settle) / target; jitter = actual − intended
start of every task in the window, p50 and p99 in ms. Medians over `--repeats`, the closed
executor being the baseline of the ratio column.

Then, per executor, the highest rate of `--rates` one worker sustains: the highest target
at which it achieved at least 95% of the rate and (arrival-rate) dropped at most 1% of its
due starts, with that rate's jitter. Give a ladder of rates to find it
(`--rates 250,500,750,1000,1500,2000`).

With `--pre-allocated N`, the bench instead compares two arrival-rate pools at the first
rate of `--rates`: the whole pool (rate / 5 users) spawned at the start (pre_allocated =
max_in_flight, the baseline) and N users spawned at the start that grow up to the same
ceiling when a start finds every user busy (the worker's own growth: one more Locust user,
the start handed to the first user free). Columns: achieved rate, jitter p50/p99 after the
settle and p99 from the start (where a pool grows most; a start that waited for a growing
user counts from its due time), dropped starts, users at the end and grown; medians of
`--repeats`, ratios against the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SETTLE_S = 2.0
SUSTAINED = 0.95
PER_USER_RATE = 10.0


def child(executor: str, rate: float, seconds: float, url: str) -> dict[str, Any]:
    """Run one executor in this process; its starts, lags and achieved rate."""
    import gevent
    from locust import FastHttpUser, task
    from locust.env import Environment

    from harness.load import arrivals
    from harness.load.open_model import WorkerArrivals

    lags: list[float] = []
    started: list[float] = []

    class Health(FastHttpUser):
        host = url
        due: float | None = None

        def wait_time(self) -> float:  # constant throughput, as HarnessUser's
            interval = 1.0 / PER_USER_RATE
            now = time.time()
            if self.due is None:
                self.due = now + (hash(id(self)) % 1000) / 1000 * interval
            else:
                self.due = self.due + interval if self.due + interval > now else now
            return max(0.0, self.due - now)

        @task
        def health(self) -> None:
            now = time.time()
            started.append(now)
            if executor == "closed" and self.due is not None:
                lags.append(now - self.due)
            self.client.get("/healthz")

    env = Environment(user_classes=[Health])
    runner = env.create_local_runner()
    open_model = executor.startswith("arrival-rate")
    if open_model:
        ceiling = max(int(rate / 5), 1)
        pre = int(executor.split("=")[1]) if "=" in executor else ceiling
        dispatcher = arrivals.Dispatcher(lambda _t, _ok: None, pool=local_pool(runner))
        dispatcher.keep_lags = 10**7
        arrivals.install(dispatcher)
        dispatcher.configure(WorkerArrivals(rate, rate, 0.0, "uniform", max_users=ceiling))
        users = pre
    else:
        users = max(int(rate / PER_USER_RATE), 1)
    runner.start(users, spawn_rate=users)
    t0 = time.time()
    gevent.sleep(seconds)
    users_at_end = runner.user_count
    grown = dropped = 0
    if open_model:  # counted before the users stop: none dropped or grown while they go
        dispatcher.halt()
        lags = dispatcher.lag_s
        dropped = dispatcher.dropped
        grown = dispatcher.grown
    runner.quit()
    window = [t for t in started if t0 + SETTLE_S <= t < t0 + seconds]
    skip = int(len(lags) * SETTLE_S / seconds)  # about the settle's share of the lags
    lags_ms = sorted(x * 1000 for x in lags[skip:])
    all_ms = sorted(x * 1000 for x in lags)  # with the settle: where a pool grows most
    return {
        "achieved_per_s": len(window) / (seconds - SETTLE_S),
        "p50_ms": lags_ms[len(lags_ms) // 2] if lags_ms else None,
        "p99_ms": lags_ms[int(len(lags_ms) * 0.99)] if lags_ms else None,
        "p99_all_ms": all_ms[int(len(all_ms) * 0.99)] if all_ms else None,
        "dropped": dropped,
        "users_at_end": users_at_end,
        "grown": grown,
    }


def local_pool(runner: Any) -> Any:
    """The bench's pool hooks: a LocalRunner's users, grown by its `spawn_users`."""
    from harness.load.arrivals import PoolHooks

    class LocalPool(PoolHooks):
        def size(self) -> int:
            return int(runner.user_count)

        def grow(self) -> Any:
            users = runner.spawn_users({"Health": 1})
            return users[0] if users else None

        def alive(self, user: Any) -> bool:
            return user._greenlet is None or not user._greenlet.dead

    return LocalPool()


def compare_pre_allocated(rate: float, pre: int, seconds: float, repeats: int, url: str) -> None:
    """pre_allocated = max_in_flight (baseline) against `pre` users that grow, at `rate`."""
    executors = {"pre=max": "arrival-rate", f"pre={pre}": f"arrival-rate={pre}"}
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in executors}
    for _ in range(repeats):  # in turns, so noise hits both alike
        for label, executor in executors.items():
            runs[label].append(run_child(executor, rate, seconds, url))
    medians = {
        label: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for label, results in runs.items()
    }
    base = medians["pre=max"]
    print(f"target {rate:.0f}/s, max_in_flight {max(int(rate / 5), 1)}, medians of {repeats}")
    print(
        f"{'pool':<8} {'achieved/s':>10} {'vs max':>7} {'jitter p50 ms':>13} {'vs max':>7} "
        f"{'p99 ms':>8} {'vs max':>7} {'p99 from 0 s':>12} {'vs max':>7} {'dropped':>8} "
        f"{'users at end':>12} {'grown':>6}"
    )
    for label, m in medians.items():
        print(
            f"{label:<8} {m['achieved_per_s']:10.1f} "
            f"{m['achieved_per_s'] / base['achieved_per_s']:7.3f} {m['p50_ms']:13.2f} "
            f"{m['p50_ms'] / base['p50_ms']:7.2f} {m['p99_ms']:8.2f} "
            f"{m['p99_ms'] / base['p99_ms']:7.2f} {m['p99_all_ms']:12.2f} "
            f"{m['p99_all_ms'] / base['p99_all_ms']:7.2f} {m['dropped']:8.0f} "
            f"{m['users_at_end']:12.0f} {m['grown']:6.0f}"
        )


def run_child(executor: str, rate: float, seconds: float, url: str) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", executor, str(rate), str(seconds), url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rates", default="100,1000")
    parser.add_argument("--pre-allocated", type=int, help="compare a growing pool of N users")
    parser.add_argument("--child", nargs=4, metavar=("EXECUTOR", "RATE", "SECONDS", "URL"))
    args = parser.parse_args()
    if args.child:
        executor, rate, seconds, url = args.child
        print(json.dumps(child(executor, float(rate), float(seconds), url)), flush=True)
        return
    from harness.service.config import ServiceConfig
    from harness.service.server import start_service

    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as data:
        config = ServiceConfig(port=0, workers=1, data_dir=Path(data), seed_items=10)
        with start_service(config, ready_timeout_s=60) as service:
            if args.pre_allocated is not None:
                compare_pre_allocated(
                    rates[0], args.pre_allocated, args.seconds, args.repeats, service.url
                )
                return
            rows = []
            for rate in rates:
                runs: dict[str, list[dict[str, Any]]] = {"closed": [], "arrival-rate": []}
                for _ in range(args.repeats):  # in turns, so noise hits both alike
                    for executor in runs:
                        runs[executor].append(run_child(executor, rate, args.seconds, service.url))
                base = statistics.median(r["achieved_per_s"] for r in runs["closed"])
                for executor, results in runs.items():
                    achieved = statistics.median(r["achieved_per_s"] for r in results)
                    p50 = statistics.median(r["p50_ms"] for r in results)
                    p99 = statistics.median(r["p99_ms"] for r in results)
                    dropped = statistics.median(r["dropped"] for r in results)
                    rows.append(
                        (
                            rate,
                            executor,
                            achieved,
                            achieved / rate,
                            achieved / base,
                            p50,
                            p99,
                            dropped,
                        )
                    )
    print(
        f"{'target/s':>9} {'executor':<13} {'achieved/s':>10} {'of target':>9} "
        f"{'vs closed':>9} {'jitter p50 ms':>13} {'p99 ms':>8} {'dropped':>8}"
    )
    for rate, executor, achieved, share, ratio, p50, p99, dropped in rows:
        print(
            f"{rate:9.0f} {executor:<13} {achieved:10.1f} {share:9.1%} {ratio:9.2f} "
            f"{p50:13.2f} {p99:8.2f} {dropped:8.0f}"
        )
    print(f"highest rate one worker sustains (>= {SUSTAINED:.0%} achieved, <= 1% dropped):")
    for executor in ("closed", "arrival-rate"):
        held = [
            row
            for row in rows
            if row[1] == executor and row[3] >= SUSTAINED and row[7] <= 0.01 * row[0] * args.seconds
        ]
        if not held:
            print(f"  {executor:<13} none of the rates tried")
            continue
        best = max(held, key=lambda row: row[0])
        print(
            f"  {executor:<13} {best[0]:.0f}/s (achieved {best[2]:.1f}/s, "
            f"jitter p50 {best[5]:.2f} ms, p99 {best[6]:.2f} ms)"
        )


if __name__ == "__main__":
    main()
