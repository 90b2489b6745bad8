"""The fault-injector interface, its context, and the helpers that put a fault on a timeline.

A fault is a small object with three methods:

- `inject(ctx)` makes the failure real (a process stopped, a command run, a toxic added);
- `clear(ctx)` rolls it back. It must be safe to call even when `inject` failed half-way or
  never ran, and the runner always calls it (rollbacks always run);
- `describe()` says in one line what the fault does, for events and the report.

A fault may also have `prepare(ctx)`: a bounded wait for what it acts on (the router's
active region, say), run by `inject_fault` before the injection is timed.

A fault that cannot do its job raises `FaultError`; `inject_fault` / `clear_fault` turn it
into a `fault_failed` event, and the command line into exit code 3.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from harness.errors import RunFailed


class FaultError(RunFailed):
    """A fault could not be injected or cleared; `fault` names its type."""

    def __init__(self, fault: str, message: str) -> None:
        self.fault = fault
        self.detail = message
        super().__init__(f"fault {fault}: {message}")


class EventSink(Protocol):
    """Where timeline events go (events.jsonl in a run). `t` is stamped when absent."""

    def emit(self, kind: str, **fields: Any) -> None:
        """Record one event of `kind` with its fields."""


@dataclass
class RecordingSink:
    """An `EventSink` that keeps events in memory, stamped with `clock` (tests, dry runs)."""

    clock: Callable[[], float] = time.time
    events: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, kind: str, **fields: Any) -> None:
        """Append `{"t", "kind", **fields}`; an explicit `t` in `fields` wins."""
        record: dict[str, Any] = {"t": self.clock(), "kind": kind}
        record.update(fields)
        self.events.append(record)

    def kinds(self) -> list[str]:
        """The kinds recorded so far, in order."""
        return [str(event["kind"]) for event in self.events]


@dataclass(frozen=True)
class FaultContext:
    """What a fault may use: the event sink, the clock, the target and the deployment.

    `deployment` is the reference deployment's handle (harness.topology) for the DR
    faults, None for a URL target. `proxy` is the control client of the router placed in
    front of the target (a `harness.topology.router.RouterClient` or `Router`), used by
    the proxy fault. `run_dir` is where the run writes, for faults that keep files.
    """

    sink: EventSink
    clock: Callable[[], float] = time.time
    target_url: str | None = None
    deployment: Any = None
    proxy: Any = None
    run_dir: Path | None = None

    def emit(self, kind: str, **fields: Any) -> None:
        """Record an event on the run's timeline."""
        self.sink.emit(kind, **fields)


@runtime_checkable
class Fault(Protocol):
    """A real failure that can be injected and rolled back (see the module docstring)."""

    type: str

    def inject(self, ctx: FaultContext) -> None:
        """Make the failure happen; raise FaultError when it cannot."""

    def clear(self, ctx: FaultContext) -> None:
        """Roll the failure back; safe after a half-done or missing `inject`."""

    def describe(self) -> str:
        """One line: what this fault does."""


def inject_fault(fault: Fault, ctx: FaultContext) -> float:
    """Inject `fault` and record it; return the injection time (when `inject` began).

    Records `fault_injected` with `t` = the start of the injection and `took_s`. A fault
    with a `prepare(ctx)` method (a wait for what it acts on, e.g. the router's active
    region) has it called first, outside the injection's time. On failure of either,
    records `fault_failed` (phase `inject`), rolls back at once with `clear_fault` (its own
    failure is recorded too), then raises the FaultError.
    """
    t_start = ctx.clock()
    try:
        prepare = getattr(fault, "prepare", None)
        if prepare is not None:
            prepare(ctx)
            t_start = ctx.clock()
        fault.inject(ctx)
    except Exception as exc:
        error = _as_fault_error(fault, exc)
        ctx.emit(
            "fault_failed", fault=fault.type, detail=error.detail, phase="inject", t=ctx.clock()
        )
        with contextlib.suppress(FaultError):  # recorded as its own fault_failed event
            clear_fault(fault, ctx)
        raise error from exc
    took_s = ctx.clock() - t_start
    ctx.emit("fault_injected", fault=fault.type, detail=fault.describe(), t=t_start, took_s=took_s)
    return t_start


def clear_fault(fault: Fault, ctx: FaultContext) -> float:
    """Roll `fault` back and record `fault_cleared` (or `fault_failed`, phase `clear`).

    Returns the time the rollback began; raises FaultError when it failed.
    """
    t_start = ctx.clock()
    try:
        fault.clear(ctx)
    except Exception as exc:
        error = _as_fault_error(fault, exc)
        ctx.emit(
            "fault_failed", fault=fault.type, detail=error.detail, phase="clear", t=ctx.clock()
        )
        raise error from exc
    ctx.emit(
        "fault_cleared",
        fault=fault.type,
        detail=fault.describe(),
        t=t_start,
        took_s=ctx.clock() - t_start,
    )
    return t_start


def _as_fault_error(fault: Fault, exc: BaseException) -> FaultError:
    """Any exception from a fault becomes a FaultError; unexpected ones keep their type."""
    if isinstance(exc, FaultError):
        return exc
    return FaultError(fault.type, f"{type(exc).__name__}: {exc}")


def tail(text: str | bytes | None, limit: int = 400) -> str:
    """The last `limit` characters of a process's output, on one line."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    flat = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= limit else "..." + flat[-limit:]
