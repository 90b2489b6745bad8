"""Security-breach figures: what a leaked credential bought an attacker, and how fast it stopped.

During a security-breach scenario the runner's attacker uses the leaked key and records
each forged request in `attack.jsonl`, one line per request:

    {"t": float (send time), "op": str, "ok": bool, "status": int | null, "kid": str | null}

`ok` means the forged request was served (2xx): an unauthorized operation that succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.analysis.steady_state import Timeline, slot_of

ATTACK = "attack.jsonl"


@dataclass(frozen=True)
class BreachFigures:
    """What a leaked credential bought an attacker, and what rotating it cost legit users."""

    forged_requests: int
    unauthorized_ok: int
    containment_s: float | None
    t_contained: float | None
    forged_ok_after_containment: int | None
    legit_requests_during_rotation: int | None
    legit_errors_during_rotation: int | None


def measure_breach(
    attacks: Iterable[Mapping[str, Any]],
    t_leak: float,
    runbook: list[dict[str, Any]],
    timeline: Timeline,
    window_s: float,
) -> BreachFigures:
    """Breach figures from attack records (`t` = send time, `ok`) and the runbook (pure).

    The containment point is the end of the runbook (its last successful action); the
    rotation window runs from its first action to `window_s` after its last.
    """
    records = sorted(
        (float(a["t"]), bool(a.get("ok"))) for a in attacks if isinstance(a.get("t"), int | float)
    )
    ok_times = [t for t, ok in records if ok]
    containment_s: float | None = 0.0
    if ok_times:
        refused_later = any(not ok and t > ok_times[-1] for t, ok in records)
        containment_s = round(max(0.0, ok_times[-1] - t_leak), 3) if refused_later else None
    done = [step["t"] for step in runbook if step.get("ok")]
    t_contained = max(done) if done else None
    after = None if t_contained is None else sum(1 for t in ok_times if t > t_contained)
    legit_requests = legit_errors = None
    if runbook:
        first = slot_of(min(step["t"] for step in runbook))
        last = slot_of(max(step["t"] for step in runbook) + window_s) + 1
        ok, fail = timeline.counts(first, last)
        legit_requests, legit_errors = ok + fail, fail
    return BreachFigures(
        forged_requests=len(records),
        unauthorized_ok=len(ok_times),
        containment_s=containment_s,
        t_contained=t_contained,
        forged_ok_after_containment=after,
        legit_requests_during_rotation=legit_requests,
        legit_errors_during_rotation=legit_errors,
    )
