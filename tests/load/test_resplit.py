"""An arrival-rate stage dealt out again when its workers change mid-stage: the shares
from that moment on (pure), the pacing the master sends, and a real run that loses a
worker and gets its rate back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.load.open_model import WorkerArrivals, split_from
from harness.load.shapes import StageChange
from harness.load.stage_pacing import StagePacing
from harness.rundir import iter_jsonl
from harness.rundir.intervals import ARRIVALS_NAME
from harness.testing import finish, start_harness, wait_until
from tests.load.test_e2e import child_workers
from tests.loopback_target import answering, caller_locustfile, serving

RAMP = WorkerArrivals(100, 200, 10, "uniform", 40)


def test_the_rest_of_a_ramp_starts_at_the_rate_of_the_moment() -> None:
    assert RAMP.from_now(4) == WorkerArrivals(140, 200, 6, "uniform", 40)
    assert RAMP.from_now(0) == RAMP
    assert RAMP.from_now(12) == WorkerArrivals(200, 200, 0, "uniform", 40)  # past the ramp
    assert RAMP.from_now(-1) == RAMP  # a clock a hair behind the stage's start
    held = WorkerArrivals(50, 50, 10, "poisson", None)
    assert held.from_now(3) == WorkerArrivals(50, 50, 7, "poisson", None)


def test_a_resplit_deals_the_rate_of_the_moment_and_the_whole_ceiling() -> None:
    two = split_from(RAMP, 4, ["b_1", "a_1"])
    assert list(two) == ["a_1", "b_1"]  # Locust's order
    assert [p.from_rate_per_s for p in two.values()] == [70, 70]
    assert [(p.rate_per_s, p.ramp_s, p.max_users) for p in two.values()] == [(100, 6, 20)] * 2
    one = split_from(RAMP, 4, ["b_1"])  # a_1 lost: b_1 takes the whole rate and ceiling
    assert one == {"b_1": WorkerArrivals(140, 200, 6, "uniform", 40)}
    three = split_from(RAMP, 4, ["a_1", "b_1", "c_1"])  # one joined: 14, 13, 13 of 40
    assert [p.max_users for p in three.values()] == [14, 13, 13]
    assert sum(p.from_rate_per_s for p in three.values()) == pytest.approx(140)
    assert sum(p.rate_per_s for p in three.values()) == pytest.approx(200)
    assert split_from(RAMP, 4, []) == {}


def _change(arrival: WorkerArrivals | None) -> StageChange:
    return StageChange(1000.0, "open", 40, 40.0, 200.0, None, arrival)


def test_pacing_is_sent_to_each_worker_and_a_resplit_is_marked() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    pacing = StagePacing(lambda worker, body: sent.append((worker, body)))
    assert not pacing.wants_resplit(frozenset({"a_1"}))  # no stage yet
    pacing.deal(_change(RAMP), frozenset({"a_1", "b_1"}), 1000.0)
    assert [(w, b["arrival"]["rate_per_s"], b["resplit"]) for w, b in sent] == [
        ("a_1", 100, False),
        ("b_1", 100, False),
    ]
    assert not pacing.wants_resplit(frozenset({"a_1", "b_1"}))
    assert pacing.wants_resplit(frozenset({"b_1"}))
    sent.clear()
    plans = pacing.deal(_change(RAMP), frozenset({"b_1", "c_1"}), 1004.0, True, config_to="c_1")
    assert [w for w, _b in sent] == ["b_1"]  # c_1 gets its share in its configuration
    assert pacing.of("c_1")["arrival"]["from_rate_per_s"] == 70 and pacing.of("c_1")["resplit"]
    assert pacing.of("a_1") == {}
    assert pacing.resplit_event(1004.0, plans) == {
        "stage": "open",
        "rate_per_s": 140,
        "to_rate_per_s": 200,
        "ramp_s": 6,
        "workers": ["b_1", "c_1"],
        "rates_per_s": [70, 70],
        "max_in_flight": [20, 20],
    }


def test_a_closed_model_stage_is_never_resplit() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    pacing = StagePacing(lambda worker, body: sent.append((worker, body)))
    pacing.deal(_change(None), frozenset({"a_1", "b_1"}), 1000.0)
    assert [(w, b["arrival"]) for w, b in sent] == [("a_1", None), ("b_1", None)]
    assert pacing.for_joining is not None and pacing.for_joining["arrival"] is None
    assert not pacing.wants_resplit(frozenset({"a_1"}))


RATE_PER_S, STAGE_S = 60, 15
PROFILE = f"""
name = "resplit"
[[stages]]
name = "open"
duration = "{STAGE_S}s"
executor = "arrival-rate"
rate_per_s = {RATE_PER_S}
max_in_flight = 20
arrivals = "uniform"
"""


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "intervals.jsonl"
    if not path.exists():
        return []
    return [line for line in iter_jsonl(path) if line["name"] == ARRIVALS_NAME]


def _events(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    return [e for e in iter_jsonl(run_dir / "events.jsonl") if e["kind"] == kind]


@pytest.mark.e2e
def test_a_worker_lost_mid_stage_leaves_the_run_at_the_stages_rate(tmp_path: Path) -> None:
    """Two workers share 60 starts/s; one is killed. Before the re-split the run kept
    starting the survivor's 30/s for the rest of the stage."""
    (tmp_path / "client.py").write_text(caller_locustfile(1))
    (tmp_path / "open.toml").write_text(PROFILE)
    run_dir = tmp_path / "run"
    with serving(answering(lambda: 200)) as url:
        run = start_harness(
            "run", "--host", url, "--locustfile", str(tmp_path / "client.py"),
            "--workers", "2", "--out", str(run_dir), "--profile", str(tmp_path / "open.toml"),
        )  # fmt: skip
        try:
            wait_until(
                lambda: any(line["workers"] == 2 for line in _lines(run_dir)), 60, "both workers"
            )
            killed_at = time.time()
            os.kill(child_workers(run.pid)[0], signal.SIGKILL)
        finally:
            code, out, err = finish(run, 120)
    assert code == 0, out + err
    (resplit,) = _events(run_dir, "rate_resplit")
    assert resplit["t"] > killed_at and len(resplit["workers"]) == 1
    assert resplit["rates_per_s"] == [RATE_PER_S] and resplit["max_in_flight"] == [20]
    (stage,) = _events(run_dir, "stage")
    after = [
        line
        for line in _lines(run_dir)
        if resplit["t"] + 2 <= line["t"] and line["t"] + 1 <= stage["t"] + STAGE_S - 0.5
    ]
    assert len(after) >= 2, _lines(run_dir)
    mean = sum(line["iterations"] for line in after) / len(after)
    assert mean >= 0.8 * RATE_PER_S, after  # half (30/s) before the re-split


DISPATCHER_RESPLIT = """
import json, sys
import gevent
from harness.load.arrivals import Dispatcher, PoolHooks
from harness.load.open_model import WorkerArrivals

class Pool(PoolHooks):
    def __init__(self):
        self.users = []
    def size(self):
        return len(self.users)
    def grow(self):
        self.users.append(object())
        return self.users[-1]

resplit = sys.argv[1] == "resplit"
made, pool = [], Pool()
dispatcher = Dispatcher(lambda due, started: made.append(started), pool=pool)
dispatcher.configure(WorkerArrivals(10, 10, 0, "uniform", 3))
while len(pool.users) < 2:  # starts at 0.1 s and 0.2 s found no user: two grown for them
    gevent.sleep(0.01)
dispatcher.configure(WorkerArrivals(20, 20, 0, "uniform", 3), resplit=resplit)
if resplit:  # the grown users ask (before the new schedule's first start is due)
    assert all(dispatcher.acquire(user) for user in pool.users)
dispatcher.halt()
print(json.dumps({"started": dispatcher.started, "dropped": dispatcher.dropped, "made": made}))
"""


@pytest.mark.parametrize(("mode", "started", "dropped"), [("resplit", 2, 0), ("stage", 0, 2)])
def test_a_resplit_keeps_the_starts_waiting_for_grown_users(
    mode: str, started: int, dropped: int
) -> None:
    """A new stage drops the last one's starts still waiting for a user; a re-split of the
    same stage keeps them: the grown users make them, each counted once."""
    done = subprocess.run(  # Locust (gevent) is never imported in the test process
        [sys.executable, "-c", DISPATCHER_RESPLIT, mode],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    counts = json.loads(done.stdout)
    assert (counts["started"], counts["dropped"]) == (started, dropped), counts
    assert len(counts["made"]) == 2  # each start reported once
