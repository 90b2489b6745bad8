"""Generator health: the busy-ness measure of a real spinning process, the saturation
judgement on samples (events with hysteresis, a window's verdict), and the cluster check
of a worker's CPU figures."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.load.cpu_meter import CpuMeter
from harness.load.generator_health import GeneratorHealth
from harness.load.message_checks import Rejected, check_intervals
from harness.rundir.cpu import CpuSample


def sample(t: float, busy_pct: float, process: str = "worker a", role: str = "worker") -> CpuSample:
    return CpuSample(t, process, role, 7, busy_pct * 0.6, busy_pct * 0.4)


def test_a_spinning_thread_is_busy_all_the_time_whatever_else_runs() -> None:
    meter = CpuMeter()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:  # on a CPU, or waiting for one: never idle
        pass
    cpu_pct, wait_pct = meter.sample()
    assert cpu_pct > 0 and cpu_pct + wait_pct >= 80, (cpu_pct, wait_pct)
    time.sleep(0.3)  # idle: neither running nor waiting
    cpu_pct, wait_pct = meter.sample()
    assert cpu_pct + wait_pct < 50, (cpu_pct, wait_pct)


def test_a_sample_right_after_the_last_is_left_to_the_next() -> None:
    """A worker's first sample came microseconds after its meter was made: a scheduler
    step of a few ms over that span read as 950% busy, a false generator_saturated."""
    now = [100.0]
    meter = CpuMeter(lambda: now[0])
    end = time.monotonic() + 0.05
    while time.monotonic() < end:
        pass
    now[0] += 1e-6
    assert meter.sample() == (0.0, 0.0)
    now[0] += 1.0
    cpu_pct, wait_pct = meter.sample()  # the spin, over the whole second since creation
    assert 0 < cpu_pct + wait_pct <= 100, (cpu_pct, wait_pct)


def test_saturation_is_one_event_per_episode_and_judged_per_window() -> None:
    written: list[CpuSample] = []
    events: list[tuple[str, float, dict[str, Any]]] = []
    health = GeneratorHealth(written.extend, lambda kind, t, **f: events.append((kind, t, f)))
    busy = [50, 95, 97, 85, 92, 60, 93] + [40] * 5
    for i, pct in enumerate(busy):
        health.add(sample(1_000.0 + i, pct))
    health.add(sample(1_003.0, 99.0, "master", "master"))  # the master is recorded, not judged
    assert len(written) == len(busy) + 1
    # 95 starts an episode; 85 and 92 stay in it (above 75 %); 60 ends it; 93 starts another
    assert [(kind, t) for kind, t, _f in events] == [
        ("generator_saturated", 1_001.0),
        ("generator_saturated", 1_006.0),
    ]
    assert events[0][2]["process"] == "worker a" and events[0][2]["threshold_pct"] == 90.0
    found = health.saturated_between(1_000.5, 1_003.0)  # samples at 1001..1004: mean 92.25
    assert found is not None and found.busy_pct == pytest.approx(92.25)
    assert "worker a busy 92%" in found.describe()
    assert health.saturated_between(1_006.5, 1_010.0) is None  # mean 40


@pytest.mark.parametrize(
    "cpu",
    [{"pid": 1, "cpu_pct": 50.0}, {"pid": 1, "cpu_pct": -1, "wait_pct": 0},
     {"pid": 1, "cpu_pct": "x", "wait_pct": 0}, {"pid": 1, "cpu_pct": 1e9, "wait_pct": 0}],
)  # fmt: skip
def test_a_worker_s_cpu_figures_are_checked(cpu: dict[str, Any]) -> None:
    body = {"entries": [], "ledger": [], "through_t": 1.0, "cpu": cpu}
    with pytest.raises(Rejected, match="cpu"):
        check_intervals(body)
    check_intervals({**body, "cpu": {"pid": 1, "cpu_pct": 50.5, "wait_pct": 12}})
