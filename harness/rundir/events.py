"""events.jsonl, the timeline: `Event`, its `EventKind`, and typed payloads of the kinds
the analysis and the report read (docs/run-directory.md lists every kind and its fields).

An event is `{"t": float, "kind": str, ...fields}`. `Event.fields` keeps every field as
written; `Event.payload()` gives the typed view of a known kind. A kind this version does
not know reads as `EventKind.OTHER` with its name in `kind_name`, so a newer writer's
timeline still loads (and is shown) rather than failing the whole report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from harness.rundir.fields import (
    JSONObject,
    opt_bool,
    opt_float,
    opt_int,
    opt_str,
    req_bool,
    req_float,
    req_str,
)
from harness.rundir.files import iter_jsonl


class EventKind(StrEnum):
    """Every kind of event the harness writes."""

    RUN_STARTED = "run_started"
    RUN_STOPPED = "run_stopped"
    RUN_ABORTED = "run_aborted"
    """An `abort_on_fail` threshold (or the error budget) failed live: the run stopped."""
    STAGE = "stage"
    WORKER_JOINED = "worker_joined"
    WORKER_LOST = "worker_lost"
    WORKER_QUIT = "worker_quit"
    RATE_RESPLIT = "rate_resplit"
    """An arrival-rate stage's rate dealt out again: its workers changed mid-stage."""
    SERVICE_STARTED = "service_started"
    SERVICE_STOPPED = "service_stopped"
    SERVICE_STATS = "service_stats"
    FAULT_INJECTED = "fault_injected"
    FAULT_CLEARED = "fault_cleared"
    FAULT_FAILED = "fault_failed"
    FAULT_EFFECT = "fault_effect"
    PHASE = "phase"
    RECOVERY_ACTION = "recovery_action"
    STEADY_STATE = "steady_state"
    READBACK = "readback"
    TOKENS_REFRESHED = "tokens_refreshed"
    PROBE = "probe"
    EXTREME_STEP = "extreme_step"
    EXTREME_BREAK = "extreme_break"
    EXTREME_END = "extreme_end"
    """Extreme stopped stepping: `limit` (target, generator, time_cap), the highest held rate."""
    GENERATOR_SATURATED = "generator_saturated"
    """A load worker's event loop was busy >= 90% of a second: the generator is the limit."""
    WARNING = "warning"
    ERROR = "error"
    ATTACK_STOPPED = "attack_stopped"
    MESSAGE_REJECTED = "message_rejected"
    """A master/worker message of ours failed the cluster check and was dropped."""
    METRICS_SERVING = "metrics_serving"
    # the reference deployment's own events (harness.topology)
    TOPOLOGY_STARTED = "topology_started"
    TOPOLOGY_STOPPED = "topology_stopped"
    PROCESS_STARTED = "process_started"
    PROCESS_READY = "process_ready"
    PROCESS_EXITED = "process_exited"
    PROCESS_KILLED = "process_killed"
    PROCESS_RESTARTED = "process_restarted"
    COLD_START_BEGUN = "cold_start_begun"
    COLD_START_DONE = "cold_start_done"
    ROUTER_STARTED = "router_started"
    ROUTER_STOPPED = "router_stopped"
    ROUTE_CHANGED = "route_changed"
    REGION_HEALTH = "region_health"
    ENDPOINT_HEALTH = "endpoint_health"
    LISTENER_UP = "listener_up"
    LISTENER_DOWN = "listener_down"
    CONNECTIONS_CLOSED = "connections_closed"
    TOXIC_ADDED = "toxic_added"
    TOXIC_REMOVED = "toxic_removed"
    REPLICATOR_STARTED = "replicator_started"
    REPLICATOR_STOPPED = "replicator_stopped"
    STANDBY_SYNC_FAILED = "standby_sync_failed"
    STANDBY_SYNC_RECOVERED = "standby_sync_recovered"
    BACKUP_TAKEN = "backup_taken"
    BACKUP_FAILED = "backup_failed"
    OTHER = "other"
    """A kind this version does not know; `Event.kind_name` has its name."""


_BY_NAME = {kind.value: kind for kind in EventKind if kind is not EventKind.OTHER}


@dataclass(frozen=True)
class WorkerPayload:
    """worker_joined, worker_lost, worker_quit."""

    worker: str


@dataclass(frozen=True)
class RunStoppedPayload:
    """run_stopped: why the run ended (`completed`, `interrupted`, `failed`)."""

    reason: str


@dataclass(frozen=True)
class StagePayload:
    """stage: a profile stage begins."""

    name: str
    users: int | None
    spawn_rate: float | None
    rate_per_s: float | None


@dataclass(frozen=True)
class FaultPayload:
    """fault_injected, fault_cleared, fault_failed; `t` is when the action began."""

    fault: str
    detail: str | None
    took_s: float | None
    phase: str | None


@dataclass(frozen=True)
class PhasePayload:
    """phase: a scenario phase begins."""

    name: str


@dataclass(frozen=True)
class RecoveryActionPayload:
    """recovery_action: a runbook step the runner performed."""

    action: str
    detail: str | None
    ok: bool


@dataclass(frozen=True)
class CheckPayload:
    """steady_state, probe, readback: a check and whether it held."""

    name: str | None
    ok: bool | None
    detail: str | None


@dataclass(frozen=True)
class MessagePayload:
    """warning, error."""

    message: str


Payload = (
    WorkerPayload
    | RunStoppedPayload
    | StagePayload
    | FaultPayload
    | PhasePayload
    | RecoveryActionPayload
    | CheckPayload
    | MessagePayload
)


@dataclass(frozen=True)
class Event:
    """One timeline entry: time, kind, and every field as written."""

    t: float
    kind: EventKind
    fields: JSONObject = field(default_factory=dict)
    kind_name: str = ""
    """The kind as written (differs from `kind.value` only for `EventKind.OTHER`)."""

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "events.jsonl") -> Event:
        """The typed event of one decoded line (RecordError for a wrong `t` or `kind`)."""
        name = req_str(data, "kind", where)
        return cls(
            t=req_float(data, "t", where),
            kind=_BY_NAME.get(name, EventKind.OTHER),
            fields={k: v for k, v in data.items() if k not in ("t", "kind")},
            kind_name=name,
        )

    def to_dict(self) -> dict[str, object]:
        """The line's JSON object: `t`, `kind`, then the fields."""
        return {"t": self.t, "kind": self.kind_name or self.kind.value, **self.fields}

    def text(self, key: str) -> str | None:
        """A string field, or None (a non-string value is turned into one)."""
        value = self.fields.get(key)
        return None if value is None else str(value)

    def number(self, key: str) -> float | None:
        """A numeric field, or None."""
        return opt_float(self.fields, key, self.kind_name)

    def flag(self, key: str) -> bool | None:
        """A boolean field, or None."""
        return opt_bool(self.fields, key, self.kind_name)

    def payload(self) -> Payload | None:
        """The typed payload of a kind the analysis and report read; None for others."""
        f, where, k = self.fields, self.kind_name, self.kind
        if k in (EventKind.WORKER_JOINED, EventKind.WORKER_LOST, EventKind.WORKER_QUIT):
            return WorkerPayload(str(f.get("worker")))
        if k is EventKind.RUN_STOPPED:
            return RunStoppedPayload(req_str(f, "reason", where))
        if k is EventKind.STAGE:
            return StagePayload(
                req_str(f, "name", where),
                opt_int(f, "users", where),
                opt_float(f, "spawn_rate", where),
                opt_float(f, "rate_per_s", where),
            )
        if k in (EventKind.FAULT_INJECTED, EventKind.FAULT_CLEARED, EventKind.FAULT_FAILED):
            return FaultPayload(
                str(f.get("fault") or "fault"),
                self.text("detail"),
                opt_float(f, "took_s", where),
                opt_str(f, "phase", where),
            )
        if k is EventKind.PHASE:
            return PhasePayload(req_str(f, "name", where))
        if k is EventKind.RECOVERY_ACTION:
            return RecoveryActionPayload(
                req_str(f, "action", where), self.text("detail"), req_bool(f, "ok", where)
            )
        if k in (EventKind.STEADY_STATE, EventKind.PROBE, EventKind.READBACK):
            return CheckPayload(self.text("name"), opt_bool(f, "ok", where), self.text("detail"))
        if k in (EventKind.WARNING, EventKind.ERROR):
            return MessagePayload(str(f.get("message") or ""))
        return None


def read_events(path: Path) -> Iterator[Event]:
    """Every complete event of an events.jsonl file, in file order."""
    where = str(path)
    for line in iter_jsonl(path):
        yield Event.from_dict(line, where)


def of_kind(events: Iterable[Event], *kinds: EventKind) -> list[Event]:
    """The events of these kinds, sorted by time."""
    return sorted((e for e in events if e.kind in kinds), key=lambda e: e.t)
