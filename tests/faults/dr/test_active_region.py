"""`api_failure` with `region = "active"` against a router that has no active region yet
(its first checks failed, or timed out under CPU contention): the fault waits, bounded and
outside the injection's time, for the router to name one, or fails saying so."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from harness.errors import RunFailed
from harness.faults import FaultContext, FaultError, RecordingSink, build_fault, inject_fault
from harness.scenarios import FaultSpec


class Router:
    """Answers /status from a script: one status (or exception) per call, the last repeated."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    def status(self) -> dict[str, Any]:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


class Deployment:
    """The parts of a deployment the fault uses; kills are recorded, not done."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.regions = {"a": [], "b": []}
        self.killed: list[str] = []

    def kill_region_processes(self, region: str, sig: int, *, restart: bool) -> list[int]:
        self.killed.append(region)
        return [4242]


NONE_HEALTHY = {"active": None, "regions": {"a": {"healthy": False}, "b": {"healthy": False}}}


def context(deployment: Deployment, clock: list[float]) -> FaultContext:
    def now() -> float:
        clock[0] += 1.0  # each reading one second later: the wait must not be timed
        return clock[0]

    return FaultContext(sink=RecordingSink(), deployment=deployment, clock=now)


def test_active_waits_until_the_router_names_a_region() -> None:
    router = Router(NONE_HEALTHY, RunFailed("connection refused"), NONE_HEALTHY, {"active": "b"})
    deployment = Deployment(router)
    fault = build_fault(FaultSpec("api_failure", params={"region": "active"}))
    clock = [0.0]
    ctx = context(deployment, clock)
    t_injected = inject_fault(fault, ctx)
    assert deployment.killed == ["b"] and router.calls == 4
    sink = ctx.sink
    assert isinstance(sink, RecordingSink)
    effect = next(e for e in sink.events if e["kind"] == "fault_effect")
    assert effect["region"] == "b" and effect["signal"] == signal.SIGKILL.name
    injected = next(e for e in sink.events if e["kind"] == "fault_injected")
    assert injected["t"] == t_injected and injected["took_s"] == 1.0  # the wait is not timed


def test_active_fails_saying_the_router_has_no_active_region() -> None:
    deployment = Deployment(Router(NONE_HEALTHY))
    params = {"region": "active", "active_timeout_s": "200ms"}
    fault = build_fault(FaultSpec("api_failure", params=params))
    ctx = FaultContext(sink=RecordingSink(), deployment=deployment)
    with pytest.raises(FaultError) as info:
        inject_fault(fault, ctx)
    message = str(info.value)
    assert "the router had no active region within 0.2s" in message
    assert "regions a unhealthy, b unhealthy" in message and "nothing killed" in message
    assert deployment.killed == []


def test_a_named_region_does_not_ask_the_router() -> None:
    router = Router(NONE_HEALTHY)
    deployment = Deployment(router)
    fault = build_fault(FaultSpec("api_failure", params={"region": "a"}))
    inject_fault(fault, FaultContext(sink=RecordingSink(), deployment=deployment))
    assert deployment.killed == ["a"] and router.calls == 0
