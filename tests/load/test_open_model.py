"""Arrival-rate stages: the start schedule, the profile keys, and runs against a stalling target.

The end-to-end tests run a real `harness run` (master, one worker) against `StallServer`,
which stalls every response for 2 s while requests arrive in a 3 s window and records when
each request arrived, i.e. when a client started it.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.load.open_model import (
    MAX_RATE_PER_S,
    MAX_USERS,
    StartSchedule,
    WorkerArrivals,
    check_arrival,
)
from harness.load.profile_file import profile_from_mapping
from harness.load.profiles import stage_arrivals, stage_pacing
from harness.rundir import iter_jsonl
from harness.testing import finish, start_harness
from tests.load.stall_server import StallServer


def starts(plan: WorkerArrivals, until_s: float, seed: int = 1) -> list[float]:
    schedule = StartSchedule(plan, t0=0.0, rng=random.Random(seed))
    out: list[float] = []
    while (t := schedule.next_start()) is not None and t < until_s:
        out.append(t)
    return out


def test_uniform_starts_are_exactly_one_over_the_rate_apart() -> None:
    times = starts(WorkerArrivals(100, 100, 0, "uniform"), 10.0)
    assert len(times) == 999  # the 1000th is due at exactly 10 s
    assert all(abs((b - a) - 0.01) < 1e-9 for a, b in itertools.pairwise(times))


def test_a_ramp_starts_as_many_as_the_area_under_the_rate() -> None:
    times = starts(WorkerArrivals(0, 100, 10, "uniform"), 20.0)
    ramp = [t for t in times if t < 10]
    assert len(ramp) == 499  # ∫ 10·t dt over 0..10 s = 500, the 500th due at 10 s exactly
    assert len(times) - len(ramp) == 1000  # then 100/s
    assert (
        sum(1 for t in ramp if t < 5) == 124
    )  # a quarter (125, the last at 5 s) in the first half


def test_poisson_starts_average_the_rate_with_exponential_gaps() -> None:
    times = starts(WorkerArrivals(200, 200, 0, "poisson"), 100.0)
    assert 19_400 < len(times) < 20_600
    gaps = [b - a for a, b in itertools.pairwise(times)]
    short = sum(1 for g in gaps if g < 0.005) / len(gaps)
    assert abs(short - (1 - 2.718281828**-1)) < 0.02  # P(gap < mean) = 1 − 1/e


def test_a_zero_rate_starts_nothing() -> None:
    assert starts(WorkerArrivals(0, 0, 5, "uniform"), 60.0) == []


def test_a_schedule_without_a_ceiling_splits_evenly_and_checks_its_json() -> None:
    plan = WorkerArrivals(50, 100, 10, "poisson")
    assert plan.split(4) == WorkerArrivals(12.5, 25, 10, "poisson")
    assert check_arrival(plan.to_json()) is None and check_arrival(None) is None
    assert "arrivals" in (check_arrival({**plan.to_json(), "arrivals": "burst"}) or "")
    assert check_arrival({"rate_per_s": 1}) is not None


def test_profile_arrival_rate_stages_ramp_from_the_previous_rate() -> None:
    stages = [
        {"duration": "10s", "executor": "arrival-rate", "rate_per_s": 100, "max_in_flight": 50},
        {
            "duration": "20s",
            "executor": "arrival-rate",
            "rate_per_s": 300,
            "max_in_flight": 80,
            "arrivals": "uniform",
        },
    ]
    profile = profile_from_mapping({"stages": stages})
    first, second = profile.stages
    assert first.users == 50 and second.users == 80  # the pool is the ceiling
    assert stage_arrivals(profile.stages, 0) == WorkerArrivals(100, 100, 10, "poisson", 50)
    assert stage_arrivals(profile.stages, 1) == WorkerArrivals(100, 300, 20, "uniform", 80)
    assert stage_pacing(profile.stages, 1) is None  # users are not paced: starts are


def test_users_leaving_an_arrival_rate_pool_stay_paced() -> None:
    stages = [
        {"duration": "10s", "executor": "arrival-rate", "rate_per_s": 50, "max_in_flight": 20},
        {"duration": "10s", "users": 0, "rate_per_s": 0},
    ]
    profile = profile_from_mapping({"stages": stages})
    assert stage_pacing(profile.stages, 1) == pytest.approx(2.5)  # 50/s over 20, not unpaced


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"users": 5}, "users"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"arrivals": "burst"}, "arrivals"),
        ({"executor": "constant"}, "executor"),
        # beyond what the workers' pacing check takes: they would refuse the schedule and
        # the stage would run at the users' own pacing, with no (arrivals) line at all
        ({"rate_per_s": 1e12}, "rate_per_s"),
        ({"max_in_flight": 2_000_000}, "max_in_flight"),
    ],
)
def test_bad_arrival_rate_stages_name_the_key(change: dict[str, object], field: str) -> None:
    stage = {"duration": "10s", "executor": "arrival-rate", "rate_per_s": 10, "max_in_flight": 5}
    with pytest.raises(ConfigError, match=rf"stages\[0\]\.{field}"):
        profile_from_mapping({"stages": [{**stage, **change}]}, where="p.toml")


def test_an_unknown_executor_lists_each_choice_once() -> None:
    stage = {"duration": "10s", "executor": "arrival", "rate_per_s": 10, "max_in_flight": 5}
    with pytest.raises(ConfigError, match=r"expected one of users, arrival-rate, got 'arrival'"):
        profile_from_mapping({"stages": [stage]}, where="p.toml")


def test_the_highest_stage_rate_is_a_schedule_the_workers_take() -> None:
    stage = {"duration": "10s", "executor": "arrival-rate", "rate_per_s": MAX_RATE_PER_S}
    profile = profile_from_mapping({"stages": [{**stage, "max_in_flight": MAX_USERS}]})
    arrival = profile.stages[0].arrival
    assert arrival is not None and arrival.max_in_flight == MAX_USERS
    body = WorkerArrivals(MAX_RATE_PER_S, MAX_RATE_PER_S, 10.0, "uniform", MAX_USERS).to_json()
    assert check_arrival(body) is None


LOCUSTFILE = """
from locust import FastHttpUser, constant_throughput, task


class Client(FastHttpUser):
    wait_time = constant_throughput(5)
    network_timeout = 30.0

    @task
    def get(self):
        self.client.get("/thing")
"""

OPEN_PROFILE = """
name = "open"
[[stages]]
name = "open"
duration = "12s"
executor = "arrival-rate"
rate_per_s = 100
max_in_flight = {ceiling}
arrivals = "uniform"
"""

STALL_FROM_S, STALL_TO_S = 4.0, 7.0


def run_against_stall(tmp_path: Path, *args: str, exit_code: int = 0) -> tuple[StallServer, Path]:
    locustfile = tmp_path / "client.py"
    locustfile.write_text(LOCUSTFILE)
    run_dir = tmp_path / "run"
    with StallServer(STALL_FROM_S, STALL_TO_S) as server:
        code, out, err = finish(
            start_harness(
                "run",
                "--host",
                server.url,
                "--locustfile",
                str(locustfile),
                "--workers",
                "1",
                "--out",
                str(run_dir),
                *args,
            )
        )
    assert code == exit_code, out + err
    return server, run_dir


def open_run(tmp_path: Path, ceiling: int, exit_code: int) -> tuple[StallServer, Path]:
    profile = tmp_path / "open.toml"
    profile.write_text(OPEN_PROFILE.format(ceiling=ceiling))
    args = ("--profile", str(profile), "--threshold", "dropped<1%")
    return run_against_stall(tmp_path, *args, exit_code=exit_code)


def summary_totals(run_dir: Path) -> dict[str, Any]:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "(arrivals)" not in summary["endpoints"]
    totals: dict[str, Any] = summary["totals"]
    return totals


def stall_seconds(server: StallServer) -> list[int]:
    assert server.first is not None
    return server.per_second(server.first + STALL_FROM_S, server.first + STALL_TO_S)


def arrivals_by_second(run_dir: Path, field: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for line in iter_jsonl(run_dir / "intervals.jsonl"):
        if line["name"] == "(arrivals)":
            out[int(line["t"])] = out.get(int(line["t"]), 0) + line[field]
    return out


@pytest.mark.e2e
def test_an_arrival_rate_stage_keeps_starting_while_the_target_stalls(tmp_path: Path) -> None:
    server, run_dir = open_run(tmp_path, ceiling=400, exit_code=0)
    during = stall_seconds(server)
    # ~100 starts/s although none returns: within 5% over the stall; a single second may
    # lend a few starts to its neighbour when the machine delays the scheduler
    assert abs(sum(during) - 100 * len(during)) <= 5 * len(during), during
    assert all(85 <= n <= 115 for n in during), during
    assert server.first is not None
    dropped = arrivals_by_second(run_dir, "dropped_iterations")
    stall = range(int(server.first + STALL_FROM_S), int(server.first + STALL_TO_S))
    assert sum(dropped.get(t, 0) for t in stall) == 0
    totals = summary_totals(run_dir)
    assert totals["iterations"] >= 1000 and totals["dropped"] < 0.01


@pytest.mark.slow
def test_the_closed_model_collapses_in_the_same_stall(tmp_path: Path) -> None:
    server, _run_dir = run_against_stall(tmp_path, "--users", "20", "--duration", "12s")
    during = stall_seconds(server)
    assert max(during[1:]) < 50, during  # 20 users held 2 s each: about 10 starts/s


@pytest.mark.slow
def test_with_a_low_ceiling_the_starts_not_made_are_counted_as_dropped(tmp_path: Path) -> None:
    server, run_dir = open_run(tmp_path, ceiling=50, exit_code=1)  # dropped<1% fails
    assert server.first is not None
    since = int(server.first + STALL_FROM_S) + 1
    started = server.per_second(since, since + 3)
    dropped = arrivals_by_second(run_dir, "dropped_iterations")
    iterations = arrivals_by_second(run_dir, "iterations")
    assert sum(dropped.values()) > 100
    for k, n in enumerate(started):  # every due start either reached the target or was dropped
        second = since + k
        assert abs(iterations.get(second, 0) + dropped.get(second, 0) - 100) <= 1
        assert abs(n + dropped.get(second, 0) - 100) <= 3, (k, n, dropped)
    totals = summary_totals(run_dir)
    assert totals["dropped_iterations"] == sum(dropped.values())
    share = totals["dropped_iterations"] / (totals["iterations"] + totals["dropped_iterations"])
    assert totals["dropped"] == pytest.approx(share) and share > 0.01


def test_starts_and_drops_are_recorded_merged_and_summarised(tmp_path: Path) -> None:
    from harness.analysis.summary import measure
    from harness.analysis.thresholds import evaluate, parse_thresholds
    from harness.load.aggregator import merge_entries
    from harness.load.recorder import IntervalRecorder
    from harness.testing.synthetic import make_run_dir

    recorders = [IntervalRecorder(clock=lambda: 2000.0) for _ in range(2)]
    for index, recorder in enumerate(recorders):
        for k in range(100):
            recorder.arrival(1000.0 + k / 100, started=k % 4 != index)  # 25 dropped each
    parts = [(f"w{i}", r.take(final=True)[0]) for i, r in enumerate(recorders)]
    line = merge_entries(1000.0, "(arrivals)", parts)
    assert (line["iterations"], line["dropped_iterations"], line["requests"]) == (150, 50, 0)

    run_dir = make_run_dir(tmp_path / "run", duration_s=10, started_at=1000.0).path
    with (run_dir / "intervals.jsonl").open("a") as out:
        out.write(json.dumps(line) + "\n")
    run = measure(run_dir)
    assert "(arrivals)" not in run.endpoints
    assert (run.totals.iterations, run.totals.dropped_iterations) == (150, 50)
    ok, failed = evaluate(parse_thresholds(["dropped<30%", "dropped<1%"]), run)
    assert ok.ok and not failed.ok and failed.observed == pytest.approx(25.0)
    bare = measure(make_run_dir(tmp_path / "closed", duration_s=5).path)
    (closed,) = evaluate(parse_thresholds(["dropped<1%"]), bare)
    assert (
        not closed.ok and closed.message == "dropped not measured (no arrival-rate start was due)"
    )
