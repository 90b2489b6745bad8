"""A locustfile's own LoadTestShape driving `harness run`.

The unit tests tick three shapes written like Locust's examples (stages, step load, double
wave) with a fake clock; they use a stand-in base class with Locust's `LoadTestShape`
interface because importing Locust here would monkey-patch the test process. The end-to-end
test runs a real stages shape through `harness run` and rebuilds the user count over time
from the users' own on_start/on_stop marks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

import pytest

from harness.load.shapes import ShapeFailed, StageChange
from harness.load.user_shape import LocustfileShape, shape_profile
from harness.rundir import iter_jsonl
from harness.service.server import ServiceProcess
from harness.testing import finish, start_harness
from tests.loopback_target import answering, serving


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ShapeBase:
    """Locust's LoadTestShape interface, on a fake clock."""

    clock: FakeClock

    def __init__(self) -> None:
        self.start_time = self.clock()

    def reset_time(self) -> None:
        self.start_time = self.clock()

    def get_run_time(self) -> float:
        return self.clock() - self.start_time


class StagesShape(ShapeBase):
    stages: ClassVar = [(10, 10, 10), (30, 50, 10), (40, 20, 10)]  # (end_s, users, rate)

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        for end_s, users, rate in self.stages:
            if run_time < end_s:
                return users, rate
        return None


class StepLoadShape(ShapeBase):
    step_time_s, step_users, time_limit_s = 10, 10, 40

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        if run_time > self.time_limit_s:
            return None
        step = math.floor(run_time / self.step_time_s) + 1
        return step * self.step_users, 10.0


class DoubleWaveShape(ShapeBase):
    min_users, peak_one, peak_two, time_limit_s = 5, 50, 30, 60

    def tick(self) -> tuple[int, float] | None:
        run_time = round(self.get_run_time())
        if run_time >= self.time_limit_s:
            return None
        wave = (
            (self.peak_one - self.min_users) * math.e ** -(((run_time / 12) - 2) ** 2)
            + (self.peak_two - self.min_users) * math.e ** -(((run_time / 12) - 4) ** 2)
            + self.min_users
        )
        return round(wave), 10.0


def drive(shape_class: type[ShapeBase], limit_s: float = 600.0) -> list[tuple[float, Any]]:
    """Tick the shape once a second as Locust's master does: (t, tick) until it stops."""
    clock = FakeClock()
    shape_class.clock = clock
    changes: list[StageChange] = []
    shape = LocustfileShape(shape_class(), limit_s, clock=clock, on_stage=changes.append)  # type: ignore[arg-type]
    clock.now += 7.0  # the instance is built before the load starts: its clock must restart
    start, ticks = clock.now, []
    while (target := shape.tick()) is not None:
        ticks.append((clock.now - start, target))
        clock.now += 1.0
    assert [(c.users, c.spawn_rate) for c in changes] == [
        t for i, (_, t) in enumerate(ticks) if i == 0 or ticks[i - 1][1] != t
    ]
    assert [c.name for c in changes] == [
        f"{shape_class.__name__}-{n + 1}" for n in range(len(changes))
    ]
    return ticks


def test_a_stages_shape_drives_the_ticks_and_each_change_is_a_stage() -> None:
    ticks = drive(StagesShape)
    assert ticks[0] == (0.0, (10, 10)) and ticks[9] == (9.0, (10, 10))
    assert ticks[10] == (10.0, (50, 10)) and ticks[30] == (30.0, (20, 10))
    assert len(ticks) == 40  # None at 40 s: the run ends


def test_a_step_load_shape_steps_every_ten_seconds() -> None:
    ticks = drive(StepLoadShape)
    assert [t[1][0] for t in ticks[::10]] == [10, 20, 30, 40, 50]
    assert len(ticks) == 41


def test_a_double_wave_shape_rises_twice() -> None:
    users = [target[0] for _, target in drive(DoubleWaveShape)]
    assert len(users) == 60 and users[0] == 6
    assert max(users) == users[24] == 50  # the first peak at 24 s
    assert max(users[36:]) == users[48] == 31  # the second at 48 s, after a trough
    assert min(users[24:48]) < 30


def test_the_limit_stops_a_shape_that_never_ends() -> None:
    assert len(drive(StepLoadShape, limit_s=15.0)) == 15


class BrokenShape(ShapeBase):
    def tick(self) -> tuple[Any, ...] | None:
        if self.get_run_time() < 3:
            return 2, 10.0
        if self.get_run_time() < 4:
            return ("many", 10.0)  # not a user count
        raise KeyError("stage")


def test_a_tick_that_raises_or_is_malformed_fails_naming_the_shape() -> None:
    """Locust only logs such a tick and keeps the last users running (a run ran on to its
    one-hour limit); the harness fails the run with this message."""
    clock = FakeClock()
    BrokenShape.clock = clock
    shape = LocustfileShape(BrokenShape(), 600.0, clock=clock, on_stage=lambda _c: None)  # type: ignore[arg-type]
    assert shape.tick() == (2, 10.0)
    clock.now += 3.0
    with pytest.raises(ShapeFailed, match=r"^BrokenShape\.tick\(\): ValueError: invalid literal"):
        shape.tick()
    clock.now += 1.0
    with pytest.raises(ShapeFailed, match=r"^BrokenShape\.tick\(\): KeyError: 'stage'$"):
        shape.tick()


def test_the_profile_of_a_shape_run_is_as_long_as_its_limit() -> None:
    profile = shape_profile(StagesShape, 90.0)  # type: ignore[arg-type]
    assert profile.name == "locustfile:StagesShape" and profile.duration_s == 90.0


SHAPE_LOCUSTFILE = """
import os
import time

from locust import HttpUser, LoadTestShape, constant, task


def mark(what):
    with open(os.environ["USER_MARKS"], "a") as marks:
        marks.write(f"{what} {time.time()}\\n")


class Health(HttpUser):
    wait_time = constant(0.5)

    def on_start(self):
        mark("start")

    def on_stop(self):
        mark("stop")

    @task
    def health(self):
        self.client.get("/healthz")


class StagesShape(LoadTestShape):
    stages = [(3, 2), (6, 5), (9, 1)]

    def tick(self):
        run_time = self.get_run_time()
        for end_s, users in self.stages:
            if run_time < end_s:
                return users, 50
        return None
"""


def users_at(marks: list[tuple[str, float]], t: float) -> int:
    return sum(1 if kind == "start" else -1 for kind, at in marks if at <= t)


@pytest.mark.e2e
def test_the_locustfiles_stages_shape_drives_harness_run(
    tmp_path: Path, service: ServiceProcess
) -> None:
    locustfile = tmp_path / "stages.py"
    locustfile.write_text(SHAPE_LOCUSTFILE)
    marks_file, run_dir = tmp_path / "marks", tmp_path / "run"
    args = ["--host", service.url, "--locustfile", str(locustfile), "--workers", "1"]
    code, out, err = finish(
        start_harness("run", *args, "--out", str(run_dir), env={"USER_MARKS": str(marks_file)})
    )
    assert code == 0, out + err
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["profile"] == "locustfile:StagesShape"
    stages = [e for e in iter_jsonl(run_dir / "events.jsonl") if e["kind"] == "stage"]
    assert [(s["name"], s["users"]) for s in stages] == [
        ("StagesShape-1", 2),
        ("StagesShape-2", 5),
        ("StagesShape-3", 1),
    ]
    t0 = stages[0]["t"]
    for stage, planned_s in zip(stages, (0, 3, 6), strict=True):
        assert planned_s <= stage["t"] - t0 <= planned_s + 1.2  # ticked about once a second
    marks = [
        (k, float(t))
        for k, t in (line.split() for line in marks_file.read_text().split("\n") if line)
    ]
    # a second after each stage began, the users it asked for are running, until it ends
    for stage, end_s in zip(stages, (3, 6, 9), strict=True):
        for at in (stage["t"] + 1.0, t0 + end_s - 0.1):
            assert users_at(marks, at) == stage["users"], (stage, at - t0)
    assert users_at(marks, float("inf")) == 0


@pytest.mark.e2e
def test_a_profile_with_a_shape_locustfile_is_a_conflict(
    tmp_path: Path, service: ServiceProcess
) -> None:
    locustfile = tmp_path / "stages.py"
    locustfile.write_text(SHAPE_LOCUSTFILE)
    code, _out, err = finish(
        start_harness(
            "run",
            "--host",
            service.url,
            "--locustfile",
            str(locustfile),
            "--users",
            "2",
            "--out",
            str(tmp_path / "run"),
        )
    )
    assert code == 2
    assert "LoadTestShape StagesShape" in err and "--profile/--users" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_locust_itself_drives_the_same_users_over_time(
    tmp_path: Path, service: ServiceProcess
) -> None:
    """The same file under plain `locust --headless`: the same user counts, stage by stage."""
    import os
    import subprocess
    import sys

    locustfile = tmp_path / "stages.py"
    locustfile.write_text(SHAPE_LOCUSTFILE)
    marks_file = tmp_path / "marks"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--headless",
            "--host",
            service.url,
        ],
        env={**os.environ, "USER_MARKS": str(marks_file)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    marks = [
        (k, float(t))
        for k, t in (line.split() for line in marks_file.read_text().split("\n") if line)
    ]
    t0 = min(t for kind, t in marks if kind == "start")  # spawning at 50/s starts at once
    for users, start_s, end_s in ((2, 0, 3), (5, 3, 6), (1, 6, 9)):
        for at in (t0 + start_s + 1.0, t0 + end_s - 0.1):
            assert users_at(marks, at) == users, (users, at - t0)
    assert users_at(marks, float("inf")) == 0


BROKEN_SHAPE_LOCUSTFILE = """
from locust import FastHttpUser, LoadTestShape, constant, task


class Caller(FastHttpUser):
    wait_time = constant(0.5)

    @task
    def call(self):
        self.client.get("/")


class Broken(LoadTestShape):
    def tick(self):
        if self.get_run_time() < 2:
            return (2, 10)
        raise RuntimeError("shape bug")
"""


@pytest.mark.e2e
def test_a_shape_whose_tick_raises_fails_the_run_at_once(tmp_path: Path) -> None:
    locustfile = tmp_path / "broken.py"
    locustfile.write_text(BROKEN_SHAPE_LOCUSTFILE)
    run_dir = tmp_path / "run"
    with serving(answering(lambda: 200)) as url:
        args = ("run", "--host", url, "--locustfile", str(locustfile), "--out", str(run_dir))
        code, _out, err = finish(start_harness(*args, "--workers", "1"), timeout_s=90)
    assert code == 3, err
    assert "the load shape failed: Broken.tick(): RuntimeError: shape bug" in err
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "failed" and "shape bug" in manifest["error"]
    assert (run_dir / "summary.json").exists() and "Traceback" not in err
