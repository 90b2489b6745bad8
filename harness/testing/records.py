"""The timeline files of a synthetic run: events.jsonl, ledger.jsonl and run.json.

Companion of harness.testing (which writes intervals.jsonl and owns the API).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.rundir import SCHEMA_VERSION

Stage = tuple[str, float, int, float]


@dataclass(frozen=True)
class Layout:
    """Where and when a synthetic run happened: shared by every file writer."""

    started_at: float
    names: tuple[str, ...]
    seconds: int
    workers: int
    lost_workers: int
    lost_from_s: int


def write_ledger(
    out: Path,
    rng: np.random.Generator,
    started_at: float,
    seconds: int,
    writes: int,
    lost_keys: int,
    faults: Sequence[tuple[float, float, str]],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Spread `writes` acknowledged writes over the run; return (all keys, lost keys):
    the `lost_keys` last ones acknowledged before the first fault (or the end)."""
    t_ack = np.sort(started_at + rng.random(writes) * seconds)
    ops = rng.choice(np.array(["create", "update", "delete"]), size=writes, p=[0.7, 0.2, 0.1])
    keys = tuple(f"w-{i:08d}-{int(v):08x}" for i, v in enumerate(rng.integers(0, 2**32, writes)))
    with out.open("w", encoding="utf-8") as fh:
        for i in range(writes):
            record = {
                "key": keys[i],
                "seq": i + 1,
                "t_ack": round(float(t_ack[i]), 6),
                "op": str(ops[i]),
                "item_id": 1 + i % 5000,
            }
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
    cutoff = started_at + (faults[0][0] if faults else seconds)
    before = [k for k, t in zip(keys, t_ack, strict=True) if t < cutoff]
    return keys, tuple(before[len(before) - lost_keys :]) if lost_keys else ()


def write_events(
    out: Path,
    layout: Layout,
    stages: Sequence[Stage],
    rate_per_s: float,
    faults: Sequence[tuple[float, float, str]],
    complete: bool,
    status: str | None,
) -> None:
    """run_started, worker_joined, stages, worker_lost, faults and run_stopped events."""
    t0 = layout.started_at
    events: list[dict[str, Any]] = [{"t": t0, "kind": "run_started"}]
    events += [
        {"t": t0, "kind": "worker_joined", "worker": f"worker-{i}"} for i in range(layout.workers)
    ]
    offset_s = 0.0
    for name, stage_s, users, stage_rate in stages or [("steady", layout.seconds, 10, rate_per_s)]:
        events.append(
            {
                "t": t0 + offset_s,
                "kind": "stage",
                "name": name,
                "users": users,
                "spawn_rate": float(users),
                "rate_per_s": float(stage_rate),
            }
        )
        offset_s += stage_s
    for i in range(layout.lost_workers):
        events.append(
            {
                "t": t0 + layout.lost_from_s,
                "kind": "worker_lost",
                "worker": f"worker-{layout.workers - 1 - i}",
            }
        )
    for t_inject, t_clear, fault in faults:
        events.append(
            {"t": t0 + t_inject, "kind": "fault_injected", "fault": fault, "detail": "synthetic"}
        )
        events.append(
            {"t": t0 + t_clear, "kind": "fault_cleared", "fault": fault, "detail": "synthetic"}
        )
    if complete:
        reason = status or "completed"
        events.append({"t": t0 + layout.seconds, "kind": "run_stopped", "reason": reason})
    events.sort(key=lambda e: e["t"])
    with out.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in events)


def manifest(
    path: Path,
    layout: Layout,
    ended_at: float | None,
    kind: str,
    scenario: str | None,
    profile: str | None,
    thresholds: Sequence[str],
    status: str,
) -> dict[str, Any]:
    """run.json as the load engine writes it (docs/run-directory.md)."""
    return {
        "schema": SCHEMA_VERSION,
        "run_id": path.name,
        "kind": kind,
        "scenario": scenario,
        "profile": profile,
        "target": "http://127.0.0.1:8000",
        "embedded_service": True,
        "topology": None,
        "workers_expected": layout.workers,
        "host": "synthetic",
        "versions": {"harness": "synthetic", "locust": None, "python": None},
        "argv": ["synthetic"],
        "config": {"synthetic": True, "names": list(layout.names)},
        "thresholds": list(thresholds),
        "planned_duration_s": float(layout.seconds),
        "started_at": layout.started_at,
        "ended_at": ended_at,
        "status": status,
        "error": "synthetic failure" if status == "failed" else None,
    }
