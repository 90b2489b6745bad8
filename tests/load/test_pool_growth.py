"""`pre_allocated`: an arrival-rate stage's pool starts small and grows up to its ceiling.

The pure parts (the growth bookkeeping, the class a new user is of, the ceiling's split,
the message checks, the profile keys, the growth record) are tested directly; one run of
`harness run` against `StallServer` shows the pool growing through a stall with nothing
dropped, then, in a second stage with a low ceiling, the pool shed back to that ceiling
and the starts it cannot make counted exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load.aggregator import merge_entries
from harness.load.open_model import (
    GrowthWatch,
    PoolGrowth,
    WorkerArrivals,
    check_arrival,
    class_to_grow,
    locust_worker_order,
    share,
)
from harness.load.profile_file import profile_from_mapping
from harness.load.profiles import stage_arrivals, stage_pacing
from harness.load.recorder import IntervalRecorder
from harness.rundir import iter_jsonl
from harness.rundir.intervals import ARRIVALS_NAME, IntervalRecord
from harness.testing import finish, start_harness
from tests.load.stall_server import StallServer
from tests.loopback_target import answering, caller_locustfile, serving

ARRIVAL = {"duration": "10s", "executor": "arrival-rate", "rate_per_s": 100, "max_in_flight": 40}


def test_a_start_with_no_idle_user_grows_the_pool_until_the_ceiling_then_drops() -> None:
    growth = PoolGrowth()
    growth.ceiling = 3
    assert growth.busy(1.0, pool_size=2) == "grow"  # 2 < 3: one more user, the start waits
    assert growth.busy(1.1, pool_size=3) == "drop"  # one user being grown covers one start
    assert (growth.grown, growth.growing, list(growth.pending)) == (1, 1, [1.0])
    assert growth.take() == 1.0  # an existing user finished first: it takes the start
    growth.arrived()  # the new user then asks, and finds nothing pending: it stays idle
    assert (growth.take(), growth.growing) == (None, 0)


def test_pending_starts_never_outnumber_the_users_being_grown() -> None:
    growth = PoolGrowth()
    growth.ceiling = 10
    assert [growth.busy(t, pool_size=2 + t) for t in range(3)] == ["grow"] * 3
    assert growth.take() == 0  # an old user took the first start: two grown users, one start
    assert growth.busy(5.0, pool_size=5) == "queue"  # a user on its way will take it
    assert growth.busy(6.0, pool_size=5) == "grow"
    assert len(growth.pending) == growth.growing == 4
    assert growth.lost(2) == [1, 2]  # two new users died: the starts they covered are dropped
    assert list(growth.pending) == [5.0, 6.0] and growth.clear() == [5.0, 6.0]
    fixed = PoolGrowth()  # no ceiling: pre_allocated = max_in_flight, never grows
    assert fixed.busy(1.0, pool_size=0) == "drop" and fixed.grown == 0


def test_the_class_grown_is_the_one_furthest_below_its_weighted_share() -> None:
    weights = {"Viewer": 3.0, "Writer": 1.0}
    assert class_to_grow({"Viewer": 3, "Writer": 0}, weights) == "Writer"
    assert class_to_grow({"Viewer": 2, "Writer": 1}, weights) == "Viewer"
    assert class_to_grow({}, weights) == "Viewer"
    counts: dict[str, int] = {}
    for _ in range(40):
        name = class_to_grow(counts, weights)
        counts[name] = counts.get(name, 0) + 1
    assert counts == {"Viewer": 30, "Writer": 10}


def test_the_ceiling_is_dealt_out_as_locust_deals_users() -> None:
    assert [share(7, 3, i) for i in range(3)] == [3, 2, 2]
    order = locust_worker_order(["b_2", "a_9", "a_1", "b_1"])
    assert order == ["a_1", "b_1", "a_9", "b_2"]  # round-robin over hosts, then by id
    plan = WorkerArrivals(70, 91, 5, "uniform", max_users=7)
    assert plan.split(3, 1) == WorkerArrivals(20, 26, 5, "uniform", max_users=2)
    assert WorkerArrivals(6, 6, 0, "poisson").split(2, 1).max_users is None
    for index in range(3):  # every worker's pre_allocated share fits within its ceiling
        assert share(4, 3, index) <= share(7, 3, index)


def test_each_worker_gets_the_rate_its_share_of_the_ceiling_can_start() -> None:
    """With fewer users than workers, a worker dealt none is given no starts (it could make
    none, and they went uncounted), and the shares add up to the run-wide rate."""
    plan = WorkerArrivals(6, 6, 5, "uniform", max_users=1)
    assert plan.split(2, 0) == WorkerArrivals(6, 6, 5, "uniform", max_users=1)
    idle = plan.split(2, 1)
    assert idle == WorkerArrivals(0, 0, 5, "uniform", max_users=0)
    assert check_arrival(idle.to_json()) is None
    for ceiling, workers in ((1, 3), (5, 2), (7, 3), (100, 4)):
        plan = WorkerArrivals(10, 30, 5, "poisson", max_users=ceiling)
        parts = [plan.split(workers, i) for i in range(workers)]
        assert sum(p.rate_per_s for p in parts) == pytest.approx(30)
        assert sum(p.from_rate_per_s for p in parts) == pytest.approx(10)
        assert all(p.rate_per_s * ceiling == pytest.approx(30 * (p.max_users or 0)) for p in parts)


LOCUST_DEALS = """
import json, sys
from locust import User
from locust.dispatch import UsersDispatcher
from locust.runners import WorkerNode

class Client(User):
    pass

ids, total = json.loads(sys.argv[1]), int(sys.argv[2])
dispatcher = UsersDispatcher([WorkerNode(i) for i in ids], [Client])
dispatcher.new_dispatch(target_user_count=total, spawn_rate=10_000)
for dealt in dispatcher:
    pass
print(json.dumps({w: sum(counts.values()) for w, counts in dealt.items()}))
"""


@pytest.mark.parametrize("total", [1, 7, 40])
def test_the_ceiling_split_matches_locusts_own_deal(total: int) -> None:
    ids = ["hostb_2f", "hosta_9c", "hosta_1e", "hostb_1a", "hostc_5d"]
    done = subprocess.run(  # Locust is never imported in the test process
        [sys.executable, "-c", LOCUST_DEALS, json.dumps(ids), str(total)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    dealt = json.loads(done.stdout)
    ours = {w: share(total, len(ids), i) for i, w in enumerate(locust_worker_order(ids))}
    assert ours == dealt


def test_the_pacing_message_carries_the_ceiling_and_its_checker_bounds_it() -> None:
    body = WorkerArrivals(10, 10, 0, "uniform", max_users=5).to_json()
    assert check_arrival(body) is None and WorkerArrivals.from_json(body).max_users == 5
    assert check_arrival({**body, "max_users": None}) is None
    assert check_arrival({**body, "max_users": 0}) is None  # a worker dealt no share
    for bad in (-1, 2.5, True, "5", 10**9):
        assert "max_users" in (check_arrival({**body, "max_users": bad}) or ""), bad
    assert check_arrival({k: v for k, v in body.items() if k != "max_users"}) is not None


def test_pre_allocated_is_the_pool_a_stage_spawns_and_the_schedule_names_the_ceiling() -> None:
    profile = profile_from_mapping({"stages": [{**ARRIVAL, "pre_allocated": 4}, ARRIVAL]})
    grows, fixed = profile.stages
    assert (grows.users, fixed.users) == (4, 40)  # default: max_in_flight, as before
    assert stage_arrivals(profile.stages, 0) == WorkerArrivals(100, 100, 10, "poisson", 40)
    assert stage_arrivals(profile.stages, 1) == WorkerArrivals(100, 100, 10, "poisson", 40)
    same = profile_from_mapping({"stages": [{**ARRIVAL, "pre_allocated": 40}]})
    assert same.stages[0].users == 40
    assert stage_arrivals(same.stages, 0) == stage_arrivals(profile.stages, 1)
    after = profile_from_mapping(
        {
            "stages": [
                {**ARRIVAL, "pre_allocated": 4},
                {"duration": "5s", "users": 0, "rate_per_s": 0},
            ]
        }
    )
    assert stage_pacing(after.stages, 1) == pytest.approx(2.5)  # spread over the ceiling


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({**ARRIVAL, "pre_allocated": 41}, "expected at most max_in_flight (40), got 41"),
        ({**ARRIVAL, "pre_allocated": 0}, "expected an integer"),
        ({**ARRIVAL, "pre_allocated": 2.5}, "expected an integer, got"),
        ({**ARRIVAL, "pre_allocated": "4"}, "expected an integer, got"),
        ({"duration": "5s", "users": 4, "pre_allocated": 2}, "only in an arrival-rate stage"),
    ],
)
def test_bad_pre_allocated_names_the_file_and_the_key(
    stage: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        profile_from_mapping({"stages": [stage]}, where="p.toml")
    assert "p.toml" in str(caught.value) and "stages[0].pre_allocated" in str(caught.value)
    assert message in str(caught.value)


def test_growth_is_recorded_merged_summed_and_warned_once_a_stage(tmp_path: Path) -> None:
    from harness.analysis.summary import measure
    from harness.testing.synthetic import make_run_dir

    recorders = [IntervalRecorder(clock=lambda: 2000.0) for _ in range(2)]
    for index, recorder in enumerate(recorders):
        recorder.arrival(1000.2, started=True)
        for _ in range(index + 1):
            recorder.grown(1000.5)
    parts = [(f"w{i}", r.take(final=True)[0]) for i, r in enumerate(recorders)]
    line = merge_entries(1000.0, ARRIVALS_NAME, parts)
    assert (line["iterations"], line["grown_users"]) == (2, 3)
    record = IntervalRecord.from_dict(json.loads(json.dumps(line)))
    assert record.grown_users == 3 and record.to_dict()["grown_users"] == 3
    assert "grown_users" not in IntervalRecord.from_dict({**line, "grown_users": 0}).to_dict()

    run_dir = make_run_dir(tmp_path / "run", duration_s=5, started_at=1000.0).path
    with (run_dir / "intervals.jsonl").open("a") as out:
        out.write(json.dumps(line) + "\n")
    totals = measure(run_dir).totals
    assert (totals.iterations, totals.grown_users) == (2, 3)
    assert totals.metrics(5.0)["grown_users"] == 3

    watch = GrowthWatch()
    watch.stage_began("fixed", WorkerArrivals(1, 1, 0, "uniform", max_users=40), 40)
    assert watch.warning([line]) is None  # a pool spawned whole: a regrown user is no news
    watch.stage_began("spiky", WorkerArrivals(1, 1, 0, "uniform", max_users=40), 2, 1001.5)
    assert watch.warning([{**line, "grown_users": 0}]) is None
    assert watch.warning([line]) is None  # the second before the stage: not its growth
    line["t"] = 1001.0
    warning = watch.warning([line])
    assert warning is not None and "stage spiky" in warning and "pre_allocated (2)" in warning
    assert watch.warning([line]) is None  # once per stage


LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Client(FastHttpUser):
    wait_time = constant(0)
    network_timeout = 30.0

    @task
    def get(self):
        self.client.get("/thing")
"""

STAGE = """
[[stages]]
name = "{name}"
duration = "{duration}"
executor = "arrival-rate"
rate_per_s = 100
max_in_flight = {ceiling}
pre_allocated = 2
arrivals = "uniform"
spawn_rate = 10
"""

WIDE, LOW = (3.0, 6.0), (10.0, 13.0)  # stalls of 2 s, seconds after the first request
WIDE_S = 8  # the wide stage: its stalled starts are back by its end


def arrivals(run_dir: Path, since: float, until: float) -> list[dict[str, int]]:
    """The (arrivals) lines of the whole seconds in [since, until)."""
    out = []
    for line in iter_jsonl(run_dir / "intervals.jsonl"):
        if line["name"] == ARRIVALS_NAME and since <= line["t"] < until:
            out.append(line)
    return out


@pytest.mark.e2e
def test_a_small_pool_grows_through_a_stall_and_only_a_low_ceiling_drops(
    tmp_path: Path,
) -> None:
    (tmp_path / "client.py").write_text(LOCUSTFILE)
    profile = tmp_path / "grow.toml"
    wide = STAGE.format(name="wide", ceiling=400, duration=f"{WIDE_S}s")
    low = STAGE.format(name="low", ceiling=30, duration="6s")
    profile.write_text(f'name = "grow"\n{wide}{low}')
    run_dir = tmp_path / "run"
    with StallServer(*WIDE, also=(LOW,)) as server:
        code, out, err = finish(
            start_harness(
                "run",
                "--host",
                server.url,
                "--locustfile",
                str(tmp_path / "client.py"),
                "--workers",
                "1",
                "--out",
                str(run_dir),
                "--profile",
                str(profile),
            )
        )
    assert code == 0, out + err
    assert server.first is not None
    t0 = server.first
    # the wide stage: 2 users, 100 starts/s, each held 2 s in the stall: about 200 needed
    during = server.per_second(t0 + WIDE[0], t0 + WIDE[1])
    assert abs(sum(during) - 100 * len(during)) <= 5 * len(during), during
    wide_lines = arrivals(run_dir, int(t0), int(t0) + WIDE_S)
    assert sum(line["dropped_iterations"] for line in wide_lines) == 0
    grown = sum(line.get("grown_users", 0) for line in wide_lines)
    assert 100 <= grown <= 398, grown
    # the low stage: the same users and spawn rate, so Locust sends no spawn message: the
    # grown pool sheds down to the new ceiling. A start in the stall holds its user 2 s, so
    # no more than the pool (30) can start within its first 2 s
    assert sum(server.per_second(t0 + LOW[0], t0 + LOW[0] + 2)) <= 30
    low_lines = arrivals(run_dir, int(t0 + LOW[0]) + 1, int(t0 + LOW[1]))
    assert sum(line.get("grown_users", 0) for line in low_lines) == 0  # 30 stayed: no need
    for line in low_lines:
        assert abs(line["iterations"] + line["dropped_iterations"] - 100) <= 1, low_lines
    assert sum(line["dropped_iterations"] for line in low_lines) > 100
    events = list(iter_jsonl(run_dir / "events.jsonl"))
    stages = [(e["name"], e["users"], e["max_in_flight"]) for e in events if e["kind"] == "stage"]
    assert stages == [("wide", 2, 400), ("low", 2, 30)]
    warnings = [
        e["message"] for e in events if e["kind"] == "warning" and "pre_allocated" in e["message"]
    ]
    assert len(warnings) == 1 and "stage wide" in warnings[0]
    totals = json.loads((run_dir / "summary.json").read_text())["totals"]
    lines = list(iter_jsonl(run_dir / "intervals.jsonl"))
    assert totals["dropped_iterations"] == sum(line["dropped_iterations"] for line in lines)
    assert totals["grown_users"] == sum(line.get("grown_users", 0) for line in lines) >= grown


SMALL_POOL = """
name = "small-pool"
[[stages]]
name = "open"
duration = "3s"
executor = "arrival-rate"
rate_per_s = 20
max_in_flight = 4
pre_allocated = 1
arrivals = "uniform"
"""


@pytest.mark.e2e
def test_a_worker_dealt_no_pre_allocated_user_starts_its_share_at_once(tmp_path: Path) -> None:
    """pre_allocated = 1 on two workers: the second worker's pool is empty, and it grows on
    its first start instead of holding back its half of the schedule for the pool wait (5 s,
    longer than this stage: its 30 starts were neither made nor counted as dropped)."""
    (tmp_path / "client.py").write_text(caller_locustfile(1))
    (tmp_path / "small.toml").write_text(SMALL_POOL)
    run_dir = tmp_path / "run"
    with serving(answering(lambda: 200)) as url:
        code, out, err = finish(
            start_harness(
                "run", "--host", url, "--locustfile", str(tmp_path / "client.py"),
                "--workers", "2", "--out", str(run_dir), "--profile", str(tmp_path / "small.toml"),
            )
        )  # fmt: skip
    assert code == 0, out + err
    lines = [
        line for line in iter_jsonl(run_dir / "intervals.jsonl") if line["name"] == ARRIVALS_NAME
    ]
    due = sum(line["iterations"] + line["dropped_iterations"] for line in lines)
    assert due >= 0.8 * 20 * 3, lines  # all but the schedule's first moments
    assert max(line["workers"] for line in lines) == 2, lines
