"""The user's own `LoadTestShape`: a locustfile's shape driving `harness run`, as in Locust.

When `--locustfile` defines a `LoadTestShape` and neither `--profile` nor `--users` is
given, the master ticks the file's shape about once a second, exactly as `locust` does:
its `tick()` sees `get_run_time()` from the start of the load and `self.runner`, and may
return `(users, spawn_rate)`, `(users, spawn_rate, user_classes)` or None to stop. Each
change of its tick is a `stage` event named `<ShapeClass>-<n>` (so the report shades it).

The run is bounded: it stops after `limit_s` (`--duration`, else `DEFAULT_SHAPE_LIMIT_S`)
even when the shape never returns None.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.load.profiles import Profile, Stage
from harness.load.shapes import Clock, ShapeFailed, StageChange

if TYPE_CHECKING:
    from locust import LoadTestShape

DEFAULT_SHAPE_LIMIT_S = 3600.0
SHAPE_PROFILE_PREFIX = "locustfile:"


def shape_profile(shape_class: type[LoadTestShape], limit_s: float) -> Profile:
    """The run's profile when the locustfile's shape drives it: one stage as long as the limit.

    The stage only carries the planned length (token lifetimes, progress, run.json); the
    shape itself decides the users.
    """
    name = f"{SHAPE_PROFILE_PREFIX}{shape_class.__name__}"
    stage = Stage(name=shape_class.__name__, duration_s=limit_s, users=0)
    description = f"the locustfile's {shape_class.__name__}"
    return Profile(name=name, stages=(stage,), description=description)


class LocustfileShape:
    """Ticks the user's shape instance; reports each change of its tick as a stage."""

    def __init__(
        self,
        shape: LoadTestShape,
        limit_s: float,
        clock: Clock = time.time,
        on_stage: Callable[[StageChange], None] | None = None,
    ) -> None:
        self.shape = shape
        self.planned_duration_s = limit_s
        self._clock = clock
        self._on_stage = on_stage
        self._start: float | None = None
        self._last: tuple[Any, ...] | None = None
        self.changes = 0

    def tick(self) -> tuple[Any, ...] | None:
        """The user's shape's tick, or None once it stops or the limit is reached."""
        now = self._clock()
        if self._start is None:
            self._start = now
            self.shape.reset_time()  # type: ignore[no-untyped-call]  # its clock starts now
        if now - self._start >= self.planned_duration_s:
            return None
        try:
            target = self.shape.tick()
            if target is None:
                return None
            current = tuple(target)
            if current != self._last:
                self._last = current
                self.changes += 1
                self._announce(now, current)
        except Exception as exc:  # its own bug, or a tick that is not (users, spawn_rate)
            name = type(self.shape).__name__
            raise ShapeFailed(f"{name}.tick(): {type(exc).__name__}: {exc}") from exc
        return current

    def _announce(self, now: float, target: tuple[Any, ...]) -> None:
        if self._on_stage is None:
            return
        users, spawn_rate = int(target[0]), float(target[1])
        self._on_stage(
            StageChange(
                t=now,
                name=f"{type(self.shape).__name__}-{self.changes}",
                users=users,
                spawn_rate=spawn_rate,
                rate_per_s=None,
                per_user_rate_per_s=None,
            )
        )
