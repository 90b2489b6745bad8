"""The open model: arrival-rate stages and their start schedule (pure: no Locust, no gevent).

A stage with `executor = "arrival-rate"` starts iterations (one task of a user) on a
schedule independent of responses: `rate_per_s` starts per second, ramping linearly from
the previous stage's rate over the stage (a first stage, or one after a closed-model stage,
holds its own rate), at most `max_in_flight` at once in the whole run (the stage's user
pool, split across the workers as Locust splits users). The stage spawns `pre_allocated`
of them at its start (default: all of them); when a start falls due while every user of a
worker is busy, the worker grows its pool by one user (up to its share of the ceiling) and
the start waits for the first user that becomes free (`PoolGrowth`). Only a start due while
the pool is at its ceiling is dropped and counted (`dropped_iterations`).

Arrivals are `uniform` (exactly 1/rate apart) or `poisson` (exponential gaps, so starts
bunch as independent clients' do). Both invert the cumulative arrival count
Λ(t) = r0·t + (r1 − r0)·t²/(2T) (then r1 per second after T): the n-th uniform start is at
Λ⁻¹(n), a Poisson one at Λ⁻¹ of a running sum of Exp(1) draws.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

EXECUTORS = ("users", "arrival-rate")
ARRIVALS = ("poisson", "uniform")
DEFAULT_ARRIVALS = "poisson"
MAX_USERS = 1_000_000  # a worker's pool ceiling the pacing message may name
MAX_RATE_PER_S = 1e7  # the highest start rate a pacing message may name (and a stage may ask)


@dataclass(frozen=True)
class ArrivalRate:
    """The open-model part of a stage: its ceiling and how starts are spread."""

    max_in_flight: int
    arrivals: str = DEFAULT_ARRIVALS
    pre_allocated: int | None = None
    """Users spawned at the stage's start (None: `max_in_flight`, a pool that never grows)."""

    @property
    def initial_users(self) -> int:
        """Users spawned at the stage's start."""
        return self.max_in_flight if self.pre_allocated is None else self.pre_allocated


@dataclass(frozen=True)
class WorkerArrivals:
    """What one worker's dispatcher runs for a stage: its share of the rate, ramped."""

    from_rate_per_s: float
    rate_per_s: float
    ramp_s: float
    arrivals: str
    max_users: int | None = None
    """The pool's ceiling, `max_in_flight` (run-wide, or this worker's share once split):
    the pool grows up to it, and shrinks back to it; None: the pool stays as spawned."""

    def to_json(self) -> dict[str, Any]:
        """The body of the `arrival` key of a pacing message."""
        return {
            "from_rate_per_s": self.from_rate_per_s,
            "rate_per_s": self.rate_per_s,
            "ramp_s": self.ramp_s,
            "arrivals": self.arrivals,
            "max_users": self.max_users,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerArrivals:
        """Read a pacing message's `arrival` (checked by `check_arrival`)."""
        return cls(
            float(data["from_rate_per_s"]),
            float(data["rate_per_s"]),
            float(data["ramp_s"]),
            str(data["arrivals"]),
            None if data.get("max_users") is None else int(data["max_users"]),
        )

    def rate_at(self, elapsed_s: float) -> float:
        """The intended rate `elapsed_s` into the schedule."""
        if self.ramp_s <= 0 or elapsed_s >= self.ramp_s:
            return self.rate_per_s
        elapsed_s = max(elapsed_s, 0.0)
        return self.from_rate_per_s + (self.rate_per_s - self.from_rate_per_s) * (
            elapsed_s / self.ramp_s
        )

    def from_now(self, elapsed_s: float) -> WorkerArrivals:
        """The rest of this schedule `elapsed_s` into it: from the rate at that moment to
        the target over the ramp's remaining time (what a re-split mid-stage deals out)."""
        elapsed_s = max(elapsed_s, 0.0)
        return replace(
            self, from_rate_per_s=self.rate_at(elapsed_s), ramp_s=max(self.ramp_s - elapsed_s, 0.0)
        )

    def split(self, workers: int, index: int = 0) -> WorkerArrivals:
        """Worker `index`'s share (of `workers`, in `locust_worker_order`) of this run-wide
        schedule: the ceiling as Locust deals users out, one by one, and the rate in
        proportion to it (evenly without a ceiling). An even split of the rate would hand a
        worker whose share of the ceiling is smaller (none, with fewer users than workers)
        starts it cannot make: with `max_in_flight = 1` on two workers, half the rate was
        never started, and never counted as dropped either."""
        n = max(workers, 1)
        if self.max_users is None:
            ceiling, part = None, 1 / n
        else:
            ceiling = share(self.max_users, n, index)
            part = ceiling / self.max_users
        return replace(
            self,
            from_rate_per_s=self.from_rate_per_s * part,
            rate_per_s=self.rate_per_s * part,
            max_users=ceiling,
        )


def split_from(
    arrival: WorkerArrivals, elapsed_s: float, workers: Sequence[str]
) -> dict[str, WorkerArrivals]:
    """Each worker's share of the run-wide `arrival` from `elapsed_s` into its stage on:
    the stage's split at its start (0), or a re-split when the workers changed mid-stage.
    The shares add up to the run-wide rate at that moment and ramp together to the
    stage's target over what is left of its ramp; `workers` are dealt in Locust's order."""
    rest = arrival.from_now(elapsed_s)
    order = locust_worker_order(workers)
    return {worker: rest.split(len(order), index) for index, worker in enumerate(order)}


def share(total: int, workers: int, index: int) -> int:
    """Worker `index`'s part of `total` users dealt out round-robin (as Locust does)."""
    return total // workers + (1 if index < total % workers else 0)


def locust_worker_order(worker_ids: Sequence[str]) -> list[str]:
    """Workers in the order Locust's UsersDispatcher deals users to them: by their index
    within their host (the id's part before the first `_`), then by id."""
    seen: dict[str, int] = {}
    index: dict[str, int] = {}
    for worker in sorted(worker_ids):
        host = worker.split("_")[0]
        index[worker] = seen.get(host, 0)
        seen[host] = index[worker] + 1
    return sorted(worker_ids, key=lambda w: (index[w], w))


def class_to_grow(counts: Mapping[str, int], weights: Mapping[str, float]) -> str:
    """The user class furthest below its weighted share of a pool one user larger."""
    total_weight = sum(weights.values())
    if total_weight <= 0:
        return min(weights, key=lambda name: (counts.get(name, 0), name))
    size = sum(counts.get(name, 0) for name in weights) + 1

    def shortfall(name: str) -> tuple[float, str]:
        return (counts.get(name, 0) - size * weights[name] / total_weight, name)

    return min(weights, key=shortfall)


class PoolGrowth:
    """What a worker's due start does when no user is idle (pure bookkeeping, no gevent).

    `busy()` says `"queue"` (a user being grown will take it), `"grow"` (spawn one more
    user, the start waits for it) or `"drop"` (the pool is at its ceiling). Pending starts
    never outnumber the users being grown, so nothing queues without limit; any user that
    becomes free takes the oldest pending start first (`take()`).
    """

    def __init__(self) -> None:
        self.ceiling: int | None = None
        self.pending: deque[float] = deque()
        self.growing = 0  # users spawned for growth that have not asked for a start yet
        self.grown = 0

    def busy(self, due: float, pool_size: int) -> str:
        """A start due at `due` found every user busy; `pool_size` users exist."""
        if len(self.pending) < self.growing:
            self.pending.append(due)
            return "queue"
        if self.ceiling is not None and pool_size < self.ceiling:
            self.pending.append(due)
            self.growing += 1
            self.grown += 1
            return "grow"
        return "drop"

    def arrived(self) -> None:
        """A grown user asks for its first start."""
        self.growing = max(self.growing - 1, 0)

    def take(self) -> float | None:
        """The oldest pending start's due time, for a user that became free (None: none)."""
        return self.pending.popleft() if self.pending else None

    def lost(self, users: int = 1) -> list[float]:
        """`users` grown users died before asking for a start: the pending starts they no
        longer cover are dropped (returned, oldest first)."""
        self.growing = max(self.growing - users, 0)
        dropped: list[float] = []
        while len(self.pending) > self.growing:
            dropped.append(self.pending.popleft())
        return dropped

    def clear(self) -> list[float]:
        """Forget every pending start and growing user (returned: the starts not made)."""
        dropped = list(self.pending)
        self.pending.clear()
        self.growing = 0
        return dropped


def check_arrival(data: Any) -> str | None:
    """Why a pacing message's `arrival` is malformed, or None when it is well formed."""
    if data is None:
        return None
    if not isinstance(data, Mapping) or set(data) != {
        "from_rate_per_s",
        "rate_per_s",
        "ramp_s",
        "arrivals",
        "max_users",
    }:
        return "arrival: expected from_rate_per_s, rate_per_s, ramp_s, arrivals and max_users"
    for key in ("from_rate_per_s", "rate_per_s", "ramp_s"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"arrival.{key}: expected a number"
        if not 0 <= value <= MAX_RATE_PER_S:
            return f"arrival.{key}: out of range"
    if data["arrivals"] not in ARRIVALS:
        return f"arrival.arrivals: expected one of {', '.join(ARRIVALS)}"
    ceiling = data["max_users"]
    if ceiling is not None and (
        isinstance(ceiling, bool) or not isinstance(ceiling, int) or not 0 <= ceiling <= MAX_USERS
    ):  # 0: a worker dealt no share of a ceiling smaller than the workers
        return f"arrival.max_users: expected null or an integer in 0..{MAX_USERS}"
    return None


class StartSchedule:
    """Intended start times (seconds from `t0`) of a linearly ramping arrival rate."""

    def __init__(self, plan: WorkerArrivals, t0: float, rng: random.Random | None = None) -> None:
        self.plan = plan
        self.t0 = t0
        self._rng = rng or random.Random()
        self._count = 0.0  # Λ at the last start
        self._poisson = plan.arrivals == "poisson"

    def rate_at(self, elapsed_s: float) -> float:
        """The intended rate `elapsed_s` into the stage."""
        return self.plan.rate_at(elapsed_s)

    def next_start(self) -> float | None:
        """The absolute time of the next intended start; None when the rate stays 0."""
        self._count += self._rng.expovariate(1.0) if self._poisson else 1.0
        elapsed = self._inverse(self._count)
        return None if elapsed is None else self.t0 + elapsed

    def _inverse(self, count: float) -> float | None:
        """The elapsed time at which Λ reaches `count` (None: never)."""
        p = self.plan
        r0, r1, ramp = p.from_rate_per_s, p.rate_per_s, max(p.ramp_s, 0.0)
        in_ramp = (r0 + r1) / 2 * ramp
        if count > in_ramp or ramp == 0:
            return None if r1 <= 0 else ramp + (count - in_ramp) / r1
        slope = (r1 - r0) / ramp
        if abs(slope) < 1e-12:
            return count / r0
        # slope/2·t² + r0·t − count = 0, the root in [0, ramp]
        root = (-r0 + math.sqrt(max(r0 * r0 + 2 * slope * count, 0.0))) / slope
        return min(max(root, 0.0), ramp)


class GrowthWatch:
    """Notices, on the master, the first growth of a stage's pool beyond `pre_allocated`
    in the workers' `(arrivals)` entries (k6 warns "Insufficient VUs" then)."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.pre_allocated: int | None = None
        self._since_t = 0.0
        self._warned = True

    def stage_began(
        self, name: str, arrival: WorkerArrivals | None, users: int, t: float = 0.0
    ) -> None:
        """A new stage at `t` (`arrival` run-wide, `users` its pre_allocated): watch it
        when it starts below its ceiling."""
        self.stage, self.pre_allocated, self._since_t = name, users, t
        self._warned = arrival is None or arrival.max_users is None or users >= arrival.max_users

    def warning(self, entries: Sequence[Mapping[str, Any]]) -> str | None:
        """The warning to record, the first time these entries show the pool grew (in a
        second that overlaps the stage: a late second of the stage before is not it)."""
        if self._warned or not any(
            e.get("grown_users") and e["t"] + 1 > self._since_t for e in entries
        ):
            return None
        self._warned = True
        return (
            f"stage {self.stage}: pre_allocated ({self.pre_allocated}) users could not keep "
            "up, the pool grew (see grown_users in the (arrivals) lines); its first starts "
            "waited for the new users to spawn"
        )
