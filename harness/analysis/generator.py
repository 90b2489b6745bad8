"""summary.json's `generator`: the busiest worker and master second, and the episodes of
saturation (`generator_saturated` events), from cpu.jsonl and events.jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.rundir import iter_jsonl
from harness.rundir.cpu import read_cpu


def generator_report(cpu_path: Path, events_path: Path) -> dict[str, Any] | None:
    """The `generator` object; None when the run has no cpu.jsonl (an older run)."""
    if not cpu_path.is_file():
        return None
    peaks: dict[str, float] = {}
    for sample in read_cpu(cpu_path):
        peaks[sample.role] = max(peaks.get(sample.role, 0.0), sample.busy_pct)
    events = sum(1 for e in iter_jsonl(events_path) if e.get("kind") == "generator_saturated")
    worker, master = peaks.get("worker"), peaks.get("master")
    return {
        "saturated": events > 0,
        "saturated_events": events,
        "peak_worker_busy_pct": None if worker is None else round(worker, 1),
        "peak_master_busy_pct": None if master is None else round(master, 1),
    }
