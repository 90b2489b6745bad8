"""Failover on the real HA PostgreSQL cluster (etcd, two Patroni nodes, HAProxy), measured
from a writer's side, without the HTTP service in between.

    python bench/postgres_bench.py [--runs 5] [--ttls 10,20,30] [--only lost|ttl|path]

A writer thread inserts numbered rows through a DSN as fast as its commits return (bounded
in count and time), reconnecting on errors, and records which inserts were acknowledged.
The leader is then lost for real (link cut, Patroni and PostgreSQL SIGKILLed); the writer
goes on until writes succeed again. Figures per run:

- write gap (RTO seen by the writer): loss → first acknowledged insert on the new leader;
- lost: acknowledged inserts missing from the new leader (read back by id), out of acked.

Tables: (1) asynchronous (link lagged 1 s) vs synchronous (synchronous_mode, link lagged
20 ms): lost writes over `--runs` failovers each, on one cluster per mode (the lost member
rejoins between runs); (2) the write gap against Patroni's ttl at three values, ratios to
the first; (3) the leader-aware path: HAProxy (Patroni `/primary` check) vs libpq
multi-host `target_session_attrs=read-write`, both writing during the same failovers, and
the median latency of one `select 1` through each against a direct connection.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.topology.postgres.cluster import PgCluster
from harness.topology.postgres.config import PgClusterConfig

WRITE_LIMIT_S = 120.0


@dataclass
class Writer:
    """Inserts ids `start, start+1, ...` into table `t` through `dsn` until stopped."""

    dsn: str
    start: int
    acked: dict[int, float] = field(default_factory=dict)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        next_id, deadline = self.start, time.monotonic() + WRITE_LIMIT_S
        conn: psycopg.Connection[Any] | None = None
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=2)
                conn.execute("insert into t (id) values (%s)", (next_id,))
                self.acked[next_id] = time.time()
                next_id += 1
            except psycopg.Error:
                self.errors += 1
                next_id += 1  # an insert that may or may not have committed is not acked
                if conn is not None:
                    conn.close()
                conn = None
                self.stop.wait(0.05)
        if conn is not None:
            conn.close()

    def first_ack_after(self, t: float) -> float | None:
        later = [at for at in self.acked.values() if at > t]
        return min(later) if later else None


def start_cluster(root: Path, *, synchronous: bool, ttl_s: int, lag_ms: int) -> PgCluster:
    retry = max(1, min(ttl_s // 2 - 1, 10))
    config = PgClusterConfig(root / f"c-{time.monotonic_ns()}", synchronous=synchronous,
                             ttl_s=ttl_s, retry_timeout_s=retry)  # fmt: skip
    cluster = PgCluster(config).start()
    lag_links(cluster, lag_ms)
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute("create table if not exists t (id bigint primary key)")
    return cluster


def lag_links(cluster: PgCluster, lag_ms: int) -> None:
    for member in cluster.members.values():
        if lag_ms:
            member.link.add_toxic("latency", name="lag", latency_ms=lag_ms)


def multihost_dsn(cluster: PgCluster) -> str:
    hosts = ",".join("127.0.0.1" for _ in cluster.members)
    ports = ",".join(str(m.ports.pg_port) for m in cluster.members.values())
    config = cluster.config
    return (
        f"host={hosts} port={ports} user={config.user} dbname={config.database}"
        f" passfile={cluster.passfile} target_session_attrs=read-write connect_timeout=2"
    )


def failover(
    cluster: PgCluster, dsns: dict[str, str], run: int, lag_ms: int = 0
) -> dict[str, dict[str, Any]]:
    """One leader loss under writers on every DSN; gap and lost writes per DSN. The lost
    member rejoins (links healed), then the links are lagged again for the next run."""
    writers = {name: Writer(dsn, start=(run * 10 + i) * 10_000_000)
               for i, (name, dsn) in enumerate(dsns.items())}  # fmt: skip
    threads = [threading.Thread(target=w.run, daemon=True) for w in writers.values()]
    for thread in threads:
        thread.start()
    time.sleep(3.0)  # load runs for 3 s before the loss (a bench's pacing, not a wait)
    leader = cluster.leader()
    assert leader is not None
    cluster.lose_member(leader)
    lost_t = time.time()  # the leader is dead: any later ack comes from the new one
    cluster.wait_leader(120.0, exclude=leader)
    time.sleep(2.0)  # writes continue 2 s on the new leader
    for writer in writers.values():
        writer.stop.set()
    for thread in threads:
        thread.join(10)
    results = {}
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        for name, writer in writers.items():
            ids = list(writer.acked)
            present = {r[0] for r in conn.execute("select id from t where id = any(%s)", (ids,))}
            first = writer.first_ack_after(lost_t)
            results[name] = {
                "gap_s": None if first is None else first - lost_t,
                "lost": len(set(ids) - present),
                "acked": len(ids),
            }
    cluster.restart_member(leader)
    cluster.wait_streaming(120.0)
    lag_links(cluster, lag_ms)
    return results


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_lost(root: Path, runs: int) -> None:
    print(f"\n(1) lost writes at failover: asynchronous vs synchronous, {runs} runs each")
    print(f"{'mode':<32} {'lost per run':<28} {'median lost':>11} {'acked (med)':>11} "
          f"{'write gap s (med)':>17}")  # fmt: skip
    for label, synchronous, lag_ms in (("async, link lagged 1000 ms", False, 1000),
                                       ("sync (synchronous_mode), 20 ms", True, 20)):  # fmt: skip
        cluster = start_cluster(root, synchronous=synchronous, ttl_s=10, lag_ms=lag_ms)
        try:
            rows = [failover(cluster, {"haproxy": cluster.dsn}, run, lag_ms)["haproxy"]
                    for run in range(runs)]  # fmt: skip
        finally:
            cluster.stop()
        lost = [r["lost"] for r in rows]
        gaps = [r["gap_s"] for r in rows if r["gap_s"] is not None]
        print(f"{label:<32} {lost!s:<28} {median(lost):>11g} "
              f"{median([r['acked'] for r in rows]):>11g} {median(gaps):>17.2f}")  # fmt: skip


def bench_ttl(root: Path, ttls: list[int], runs: int) -> None:
    print(f"\n(2) write gap (RTO seen by a writer) against Patroni's ttl, {runs} runs each")
    print(f"{'ttl s':>5} {'retry_timeout s':>15} {'gaps s':<30} {'median s':>8} {'ratio':>6}")
    base = None
    for ttl in ttls:
        cluster = start_cluster(root, synchronous=False, ttl_s=ttl, lag_ms=0)
        try:
            gaps = [failover(cluster, {"haproxy": cluster.dsn}, run)["haproxy"]["gap_s"]
                    for run in range(runs)]  # fmt: skip
        finally:
            cluster.stop()
        found = [g for g in gaps if g is not None]
        value = median(found)
        base = base or value
        print(
            f"{ttl:>5} {cluster.config.retry_timeout_s:>15} "
            f"{[round(g, 1) for g in found]!s:<30} {value:>8.2f} {value / base:>6.2f}"
        )


def select_latency_us(dsn: str, count: int = 2000) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        samples = []
        for _ in range(count):
            started = time.perf_counter_ns()
            conn.execute("select 1").fetchone()
            samples.append((time.perf_counter_ns() - started) / 1000)
    return statistics.median(samples)


def bench_path(root: Path, runs: int) -> None:
    print(f"\n(3) leader-aware path: HAProxy vs libpq multi-host, {runs} failovers")
    cluster = start_cluster(root, synchronous=False, ttl_s=10, lag_ms=0)
    try:
        leader = cluster.leader()
        assert leader is not None
        direct = cluster.member_dsn(leader, cluster.config.database)
        dsns = {"haproxy": cluster.dsn, "multihost": multihost_dsn(cluster)}
        latency = {name: select_latency_us(dsn) for name, dsn in
                   {"direct": direct, **dsns}.items()}  # fmt: skip
        rows = [failover(cluster, dsns, run) for run in range(runs)]
    finally:
        cluster.stop()
    print(f"{'path':<10} {'select 1 p50 us':>15} {'ratio':>6} {'gaps s':<28} {'median gap s':>12}")
    for name in ("direct", *dsns):
        gaps = [r[name]["gap_s"] for r in rows if name in r and r[name]["gap_s"] is not None]
        gap_text = str([round(g, 2) for g in gaps]) if name in dsns else "-"
        med = f"{median(gaps):12.2f}" if name in dsns else f"{'-':>12}"
        print(f"{name:<10} {latency[name]:>15.0f} {latency[name] / latency['direct']:>6.2f} "
              f"{gap_text:<28} {med}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ttl-runs", type=int, default=2)
    parser.add_argument("--ttls", default="10,20,30")
    parser.add_argument("--only", choices=("lost", "ttl", "path"), action="append")
    args = parser.parse_args()
    only = set(args.only or ("lost", "ttl", "path"))
    with tempfile.TemporaryDirectory(prefix="harness-pg-bench-", dir="/tmp") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        if "lost" in only:
            bench_lost(root, args.runs)
        if "ttl" in only:
            bench_ttl(root, [int(t) for t in args.ttls.split(",")], args.ttl_runs)
        if "path" in only:
            bench_path(root, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
