"""The fault interface: events on the timeline, rollback always, errors as FaultError."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from harness.errors import ConfigError, RunFailed
from harness.faults import (
    Fault,
    FaultContext,
    FaultError,
    RecordingSink,
    build_fault,
    clear_fault,
    fault_available,
    inject_fault,
    register_fault,
)
from harness.scenarios import FaultSpec
from harness.toml_table import Table


class Clock:
    """A clock that advances by one second each time it is read."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@dataclass
class Scripted:
    """A fault whose inject/clear fail on demand and which records what ran."""

    fail_inject: BaseException | None = None
    fail_clear: BaseException | None = None
    calls: list[str] = field(default_factory=list)
    type: str = "scripted"

    def inject(self, ctx: FaultContext) -> None:
        self.calls.append("inject")
        if self.fail_inject is not None:
            raise self.fail_inject

    def clear(self, ctx: FaultContext) -> None:
        self.calls.append("clear")
        if self.fail_clear is not None:
            raise self.fail_clear

    def describe(self) -> str:
        return "scripted fault"


def context() -> tuple[FaultContext, RecordingSink]:
    clock = Clock()
    sink = RecordingSink(clock=clock)
    return FaultContext(sink=sink, clock=clock), sink


def test_inject_and_clear_are_recorded_with_the_start_time() -> None:
    ctx, sink = context()
    fault = Scripted()
    assert isinstance(fault, Fault)
    t_injected = inject_fault(fault, ctx)
    clear_fault(fault, ctx)
    assert fault.calls == ["inject", "clear"]
    assert sink.kinds() == ["fault_injected", "fault_cleared"]
    injected = sink.events[0]
    assert injected["t"] == t_injected == 101.0
    assert injected["fault"] == "scripted" and injected["detail"] == "scripted fault"
    assert injected["took_s"] == 1.0


def test_a_failed_injection_is_recorded_and_rolled_back_at_once() -> None:
    ctx, sink = context()
    fault = Scripted(fail_inject=FaultError("scripted", "half-way"))
    with pytest.raises(FaultError, match="half-way") as info:
        inject_fault(fault, ctx)
    assert isinstance(info.value, RunFailed) and info.value.exit_code == 3
    assert fault.calls == ["inject", "clear"]
    assert sink.kinds() == ["fault_failed", "fault_cleared"]
    assert sink.events[0]["phase"] == "inject"


def test_a_failing_rollback_is_recorded_too_and_the_inject_error_wins() -> None:
    ctx, sink = context()
    fault = Scripted(fail_inject=OSError("disk"), fail_clear=ValueError("stuck"))
    with pytest.raises(FaultError, match="OSError: disk"):
        inject_fault(fault, ctx)
    assert [(e["kind"], e.get("phase")) for e in sink.events] == [
        ("fault_failed", "inject"),
        ("fault_failed", "clear"),
    ]
    assert "ValueError: stuck" in sink.events[1]["detail"]


def test_clear_failure_raises_fault_error() -> None:
    ctx, sink = context()
    with pytest.raises(FaultError, match="scripted: RuntimeError: no"):
        clear_fault(Scripted(fail_clear=RuntimeError("no")), ctx)
    assert sink.kinds() == ["fault_failed"]


def test_registry_builds_validated_faults_and_rejects_unknown_types() -> None:
    with pytest.raises(ConfigError, match=r"f\.toml: fault\.type: fault type 'nope'"):
        build_fault(FaultSpec(type="nope"), "f.toml")

    def build(params: Table) -> Fault:
        params.number("level", 1.0)
        return Scripted()

    register_fault("scripted_test", build)
    assert fault_available("scripted_test")
    assert isinstance(build_fault(FaultSpec(type="scripted_test", params={"level": 2})), Scripted)
    with pytest.raises(ConfigError, match=r"fault\.params\.levle: unknown key"):
        build_fault(FaultSpec(type="scripted_test", params={"levle": 2}))
