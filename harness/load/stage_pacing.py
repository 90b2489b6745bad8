"""Each worker's pacing of the stage in force, dealt out on the master (no Locust here).

A stage's pacing (a closed model's per-user rate, an arrival-rate stage's share of the
start rate and of the ceiling) is dealt out across the workers at the stage's start, and
dealt out again when the workers change mid-stage (`deal(..., resplit=True)`): one lost,
quit, joined or back. A re-split starts from that moment, so the run-wide rate stays the
stage's: the shares add up to the run-wide rate then and ramp to the target together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.load.open_model import WorkerArrivals, split_from
from harness.load.shapes import StageChange


class StagePacing:
    """The stage in force, the workers it is dealt across, and each one's pacing body."""

    def __init__(self, send: Callable[[str, dict[str, Any]], None]) -> None:
        self._send = send  # (worker, pacing body): a PACING message to that worker
        self.change: StageChange | None = None
        self.split: frozenset[str] = frozenset()
        self.by_worker: dict[str, dict[str, Any]] = {}
        self.for_joining: dict[str, Any] | None = None
        """The pacing a worker not dealt a share gets (the first share, as Locust deals)."""

    def of(self, worker: str) -> dict[str, Any]:
        """`worker`'s pacing body (empty: it was dealt none, see `for_joining`)."""
        return self.by_worker.get(worker, {})

    def wants_resplit(self, workers: frozenset[str]) -> bool:
        """An arrival-rate stage is in force and was dealt across other workers."""
        return (
            self.change is not None and self.change.arrival is not None and (workers != self.split)
        )

    def deal(
        self,
        change: StageChange,
        workers: frozenset[str],
        now: float,
        resplit: bool = False,
        config_to: str | None = None,
    ) -> dict[str, WorkerArrivals]:
        """Deal `change` out across `workers` from `now` on and send each its pacing
        (`config_to` is sent none: it gets its share in its configuration); the arrival
        plans dealt, in Locust's order (empty for a closed-model stage)."""
        self.change, self.split = change, workers
        elapsed_s = now - change.t
        arrival = change.arrival
        plans = split_from(arrival, elapsed_s, sorted(workers)) if arrival is not None else {}
        first = arrival.from_now(elapsed_s).split(len(workers)) if arrival is not None else None
        self.for_joining = self._body(first, resplit)
        self.by_worker = {}
        for worker in plans or sorted(workers):
            self.by_worker[worker] = self._body(plans.get(worker), resplit)
            if worker != config_to:
                self._send(worker, self.by_worker[worker])
        return plans

    def _body(self, plan: WorkerArrivals | None, resplit: bool) -> dict[str, Any]:
        assert self.change is not None
        return {
            "per_user_rate_per_s": self.change.per_user_rate_per_s,
            "arrival": plan.to_json() if plan is not None else None,
            "resplit": resplit,
        }

    def resplit_event(self, now: float, plans: dict[str, WorkerArrivals]) -> dict[str, Any]:
        """The fields of the `rate_resplit` event of a re-split at `now`."""
        assert self.change is not None and self.change.arrival is not None
        arrival, elapsed_s = self.change.arrival, now - self.change.t
        return {
            "stage": self.change.name,
            "rate_per_s": round(arrival.rate_at(elapsed_s), 3),
            "to_rate_per_s": arrival.rate_per_s,
            "ramp_s": round(max(arrival.ramp_s - elapsed_s, 0.0), 3),
            "workers": list(plans),
            "rates_per_s": [round(plan.from_rate_per_s, 3) for plan in plans.values()],
            "max_in_flight": [plan.max_users for plan in plans.values()],
        }
