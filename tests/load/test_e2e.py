"""End-to-end `harness run`s as real processes: master, local workers and a real service.

Each run is a subprocess (`python -m harness run ...`), so Locust's gevent patching never
reaches the test process. Waits are on conditions (files written, processes gone) with
deadlines, never on fixed sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.cache_replay import observed, replay
from harness.rundir import iter_jsonl, read_cache, read_cache_policy, read_profile
from harness.service.server import ServiceProcess
from harness.testing import finish, start_harness, wait_until

RUN_TIMEOUT_S = 120.0


def events(run_dir: Path, kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in iter_jsonl(run_dir / "events.jsonl") if kind is None or e["kind"] == kind]


def child_workers(pid: int) -> list[int]:
    """Pids of the `harness worker` children of process `pid`."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"worker" in cmdline:
            found.append(int(child))
    return found


@pytest.mark.e2e
def test_local_run_with_two_workers_against_the_embedded_service(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, out, err = finish(
        start_harness(
            "run", "--profile", "light", "--duration", "6s", "--workers", "2", "--out", str(run_dir)
        )
    )
    assert code == 0, err
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed" and manifest["embedded_service"] is True
    assert manifest["target"].startswith("http://127.0.0.1:") and manifest["workers_expected"] == 2
    kinds = [e["kind"] for e in events(run_dir)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_stopped"
    assert kinds.count("worker_joined") == 2 and "service_stopped" in kinds
    assert [e["name"] for e in events(run_dir, "stage")] == ["ramp", "steady", "ramp-down"]
    lines = list(iter_jsonl(run_dir / "intervals.jsonl"))
    assert any(line["workers"] == 2 for line in lines)
    names = {line["name"] for line in lines}
    assert {"GET /api/items/{id}", "GET /static/{path}", "POST /api/items"} <= names
    assert all(line["hdr_corrected"] for line in lines if line["hdr"])  # paced load
    ledger = list(iter_jsonl(run_dir / "ledger.jsonl"))
    assert ledger and set(ledger[0]) == {"key", "seq", "t_ack", "worker", "op", "item_id"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "pass" and summary["totals"]["failures"] == 0
    assert summary["totals"]["requests"] == sum(line["requests"] for line in lines)
    assert (run_dir / "report.html").is_file()
    junit = (run_dir / "junit.xml").read_text(encoding="utf-8")  # every judged run has one
    assert '<property name="verdict" value="pass"' in junit and "<failure" not in junit
    service_stats = json.loads((run_dir / "service-stats.json").read_text())
    assert service_stats["cdn"]["hits"] > 0 and service_stats["auth"]["allowed"] > 0
    memory = list(iter_jsonl(run_dir / "memory.jsonl"))
    roles = {line["role"] for line in memory}
    assert roles == {"master", "worker", "service"}, roles
    assert len({line["process"] for line in memory if line["role"] == "worker"}) == 2
    assert all(line["rss_bytes"] > 1_000_000 for line in memory)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Where the time goes" in html and "Resident set size of each process" in html
    profile = read_profile(run_dir)  # the service timed its own statements over the window
    assert profile is not None and [s.source for s in profile.sources] == ["service"]
    statements = profile.sources[0].statements
    routes = {s.route for s in statements}
    assert {"GET /api/items/{item_id:int}", "POST /api/items"} <= routes
    assert all(s.calls > 0 and s.total_ms > 0 for s in statements)
    assert abs(sum(s.share for s in statements) - 1.0) < 0.05 or len(statements) == 20
    assert "What another TTL would have given" in html
    records = list(read_cache(run_dir / "cache.jsonl"))
    policy = read_cache_policy(run_dir / "cache-policy.json")
    assert policy is not None and policy.dropped == 0
    assert {"static", "html", "api", "dynamic"} <= {r.tier for r in records}
    seen, replayed = observed(records), replay(records, policy.tiers, 1.0)
    for tier, count in seen.items():  # one service process: the 1x replay is the edge,
        # but for requests on a freshness edge, timed by the clients and not the service
        off_by = abs(count.served - replayed[tier].served)
        assert off_by <= max(3, 0.03 * count.lookups), (tier, count, replayed[tier])
    assert f"run directory: {run_dir}" in out and "p99.9 ms" in out
    assert err == ""


LOCUSTFILE = """
import os

from locust import FastHttpUser, constant_throughput, events, task


@events.test_start.add_listener
def mark_start(environment, **_kwargs):
    with open(os.environ["LOCUSTFILE_MARK"], "a") as mark:
        mark.write("test_start\\n")


class HealthChecker(FastHttpUser):
    wait_time = constant_throughput(20)

    @task
    def health(self):
        self.client.get("/healthz")
"""


@pytest.mark.e2e
def test_user_locustfile_against_a_host(tmp_path: Path, service: ServiceProcess) -> None:
    locustfile = tmp_path / "mine.py"
    locustfile.write_text(LOCUSTFILE)
    run_dir = tmp_path / "run"
    code, _out, err = finish(
        start_harness(
            "run",
            "--host",
            service.url,
            "--locustfile",
            str(locustfile),
            "--users",
            "2",
            "--spawn-rate",
            "2",
            "--duration",
            "4s",
            "--workers",
            "1",
            "--out",
            str(run_dir),
            "--threshold",
            "error_rate<1%",
            env={"LOCUSTFILE_MARK": str(tmp_path / "mark")},
        )
    )
    assert code == 0, err
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["target"] == service.url and manifest["embedded_service"] is False
    assert manifest["profile"] is None and manifest["thresholds"] == ["error_rate<1%"]
    assert "service_started" not in [e["kind"] for e in events(run_dir)]
    lines = list(iter_jsonl(run_dir / "intervals.jsonl"))
    assert {line["name"] for line in lines} == {"GET /healthz"}
    assert all(line["hdr_corrected"] is None for line in lines)  # not paced by the harness
    assert sum(line["requests"] for line in lines) > 20
    assert "test_start" in (tmp_path / "mark").read_text()  # the file's own event hooks ran


# Slow: every scenario run in tests/runner/ drives our users against a host with tokens
# from the environment, and checks their writes and answers.
@pytest.mark.e2e
@pytest.mark.slow
def test_our_users_against_a_host_with_tokens_from_the_environment(
    tmp_path: Path, service: ServiceProcess, token_for: Callable[[str], str]
) -> None:
    tokens = {
        f"HARNESS_TOKEN_{role.upper()}": token_for(role)
        for role in ("admin", "user", "viewer", "service")
    }
    run_dir = tmp_path / "run"
    code, _out, err = finish(
        start_harness(
            "run",
            "--host",
            service.url,
            "--profile",
            "light",
            "--duration",
            "5s",
            "--workers",
            "1",
            "--out",
            str(run_dir),
            env=tokens,
        )
    )
    assert code == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["totals"]["requests"] > 50 and summary["totals"]["failures"] == 0


@pytest.mark.e2e
def test_a_worker_killed_mid_run_is_lost_and_the_other_keeps_recording(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run = start_harness(
        "run", "--profile", "light", "--duration", "14s", "--workers", "2", "--out", str(run_dir)
    )
    try:
        wait_until(lambda: len(events(run_dir, "worker_joined")) == 2, 60, "two workers")
        wait_until(
            lambda: any(line["workers"] == 2 for line in iter_jsonl(run_dir / "intervals.jsonl")),
            30,
            "data from both workers",
        )
        victim = child_workers(run.pid)[0]
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
    finally:
        code, _out, err = finish(run, RUN_TIMEOUT_S)
    assert code == 0, err
    assert err == ""  # the loss is in the timeline, not a log line
    lost = events(run_dir, "worker_lost")
    assert len(lost) == 1 and lost[0]["t"] > killed_at
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["workers"] == {"count": 2, "lost": 1}
    assert summary["status"] == "completed"
    after = [ln for ln in iter_jsonl(run_dir / "intervals.jsonl") if ln["t"] >= killed_at + 1]
    assert after and all(ln["workers"] == 1 for ln in after)
    assert sum(ln["requests"] for ln in after) > 0


@pytest.mark.e2e
def test_sigterm_stops_cleanly_is_judged_incomplete_and_never_passes(tmp_path: Path) -> None:
    # A CI job killed by its own timeout must not read green: exit 4, verdict incomplete.
    run_dir = tmp_path / "run"
    run = start_harness(
        "run", "--profile", "light", "--duration", "60s", "--workers", "1", "--out", str(run_dir)
    )
    try:
        wait_until(lambda: bool(list(iter_jsonl(run_dir / "intervals.jsonl"))), 60, "first data")
        run.send_signal(signal.SIGTERM)
    finally:
        code, _out, err = finish(run, RUN_TIMEOUT_S)
    assert code == 4, err
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["ended_at"] is not None
    assert events(run_dir, "run_stopped")[0]["reason"] == "interrupted"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["verdict"] == "incomplete"
    assert ">INCOMPLETE<" in (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'type="RunIncomplete"' in (run_dir / "junit.xml").read_text(encoding="utf-8")
    assert "service_stopped" in [e["kind"] for e in events(run_dir)]
