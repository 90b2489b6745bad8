"""The arrival-rate executor on a worker: starts on a schedule, idle users as the pool.

Any user class runs under it unchanged, ours or a locustfile's: `install()` replaces the
wait of each user's top-level task set (Locust's `TaskSet.wait`) while an arrival-rate stage
is in force, so a user that finished a task waits for a start permit instead of its
`wait_time`, and its first task waits for one too. The `Dispatcher` greenlet hands a
permit to an idle user at each intended start of the `StartSchedule`. When no user is idle
and this worker's pool is below its share of `max_in_flight`, it spawns one more user
(`PoolHooks.grow`) and the start goes to the first user that asks for one, the new one or
one that finished first (`PoolGrowth`); otherwise the start is dropped and counted in the
recorder (`dropped_iterations`). A user that becomes free while the pool is above the
ceiling (grown in a stage before, and not shrunk by Locust's next spawn message) leaves.
A stage's schedule starts once this worker's users are spawned (at most `POOL_WAIT_S`
later). Nested task sets keep their own waits (a whole top-level task is one iteration).
Imports Locust and gevent: load processes only.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
from gevent import Greenlet
from locust.exception import StopUser
from locust.user.task import (
    LOCUST_STATE_RUNNING,
    LOCUST_STATE_STOPPING,
    LOCUST_STATE_WAITING,
    TaskSet,
)

from harness.load.open_model import PoolGrowth, StartSchedule, WorkerArrivals

POOL_WAIT_S = 5.0


class _Waiter:
    """One idle user waiting for a start permit."""

    __slots__ = ("cancelled", "leaving", "permit")

    def __init__(self) -> None:
        self.permit: gevent.event.AsyncResult = gevent.event.AsyncResult()
        self.cancelled = False
        self.leaving = False  # told to leave: the pool is above its ceiling


class PoolHooks:
    """How the dispatcher sees and grows this worker's pool (the Locust runner's users)."""

    def size(self) -> int:
        """Users in the pool now (cheap: called at every start that finds no idle user)."""
        return 0

    def staying(self) -> int:
        """Users in the pool that are not already stopping (Locust stops them itself)."""
        return self.size()

    def settled(self) -> bool:
        """No spawn from the master is under way here (its users are all spawned)."""
        return True

    def grow(self) -> Any:
        """Spawn one more user; the new user object, or None when none could be spawned."""
        return None

    def alive(self, user: Any) -> bool:
        """`user` is still running (a grown user may die before asking for a start)."""
        return True


class Dispatcher:
    """Starts iterations on this worker's schedule; grows the pool or drops a start when no
    user is idle."""

    def __init__(
        self,
        on_start: Callable[[float, bool], None],
        clock: Callable[[], float] = time.time,
        pool_ready: Callable[[], bool] = lambda: True,
        pool: PoolHooks | None = None,
        on_grow: Callable[[float], None] = lambda _t: None,
    ) -> None:
        self._on_start = on_start
        self._pool_ready = pool_ready
        self._pool = pool or PoolHooks()
        self._on_grow = on_grow
        self._clock = clock
        self._idle: deque[_Waiter] = deque()
        self._greenlet: Greenlet | None = None
        self._growth = PoolGrowth()
        self._unarrived: dict[int, Any] = {}  # grown users not yet asking: id → user
        self._leaving = 0  # idle users told to leave that have not left yet
        self.plan: WorkerArrivals | None = None
        self.started = 0
        self.dropped = 0
        self.lag_s: list[float] = []  # actual − intended start of the last starts (bench)
        self.keep_lags = 0

    @property
    def active(self) -> bool:
        """An arrival-rate stage is in force."""
        return self.plan is not None

    def configure(self, plan: WorkerArrivals | None, resplit: bool = False) -> None:
        """Follow a new stage's schedule from now on (None: back to the closed model).

        `resplit`: the same stage, dealt out again across a changed set of workers. Starts
        waiting for a grown user stay (they are made, not dropped as a new stage drops the
        last one's), the pool stays as it is under the new ceiling, and the schedule starts
        at once unless Locust is still spawning users here."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        self.plan = plan
        self._growth.ceiling = None if plan is None else plan.max_users
        if not (resplit and plan is not None):
            self._unarrived.clear()
            for due in self._growth.clear():  # the last stage's, still waiting: not made
                self._drop(due)
        if plan is None:
            while self._idle:  # waiting users go back to their own wait_time
                self._idle.popleft().permit.set(None)
            return
        self._greenlet = gevent.spawn(self._run, plan, resplit)

    @property
    def grown(self) -> int:
        """Users this worker's pool grew by (since the process started)."""
        return self._growth.grown

    def halt(self) -> None:
        """The load is stopping: no more starts, and none dropped while its users go away."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def acquire(self, user: Any = None) -> bool:
        """Block the calling user until its next start (at once when the executor is off):
        a start waiting for a free user first, else the schedule's next. False: the pool is
        above this worker's ceiling (a grown pool the next stage did not shrink), and this
        user, now free, should leave."""
        if self._unarrived.pop(id(user), None) is not None:
            self._growth.arrived()
        if self._above_ceiling():
            return False
        pending = self._growth.take()
        if pending is not None:
            self._handed(pending)
            self._lag(pending)
            return True
        waiter = _Waiter()
        self._idle.append(waiter)
        try:
            intended = waiter.permit.get()
        finally:
            waiter.cancelled = True  # a stopped user (GreenletExit) is never handed a start
            if waiter.leaving:  # leaves now (the caller stops it before yielding)
                self._leaving -= 1
        if waiter.leaving:
            return False
        if intended is not None:
            self._lag(intended)
        return True

    def _above_ceiling(self) -> bool:
        ceiling = self._growth.ceiling
        if ceiling is None or self._pool.size() - self._leaving <= ceiling:  # cheap test first
            return False
        return self._pool.staying() - self._leaving > ceiling  # Locust's stopping ones leave

    def _shed(self) -> None:
        """Tell idle users to leave while the pool is above its ceiling."""
        while self._idle and self._above_ceiling():
            waiter = self._idle.popleft()
            if not waiter.cancelled:
                waiter.cancelled = waiter.leaving = True
                self._leaving += 1
                waiter.permit.set(None)

    def _lag(self, intended: float) -> None:
        if len(self.lag_s) < self.keep_lags:
            self.lag_s.append(self._clock() - intended)

    def _handed(self, due: float) -> None:
        self.started += 1
        self._on_start(due, True)

    def _drop(self, due: float) -> None:
        self.dropped += 1
        self._on_start(due, False)

    def _run(self, plan: WorkerArrivals, resplit: bool = False) -> None:
        # the stage's pool first (bounded): starts due before its users exist would all drop;
        # a re-split keeps the pool it has (a worker joining mid-stage has none: it grows)
        ready = self._pool.settled if resplit else self._pool_ready
        deadline = time.monotonic() + POOL_WAIT_S
        while not ready() and time.monotonic() < deadline:
            gevent.sleep(0.01)
        schedule = StartSchedule(plan, self._clock())
        while True:
            due = schedule.next_start()
            if due is None:
                return
            delay_s = due - self._clock()
            if delay_s > 0:
                gevent.sleep(delay_s)
            self._start(due)

    def _start(self, due: float) -> None:
        self._shed()
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.cancelled:
                waiter.cancelled = True
                waiter.permit.set(due)
                self._handed(due)
                return
        self._forget_dead()
        action = self._growth.busy(due, self._pool.size())
        if action == "drop":
            self._drop(due)
        elif action == "grow":
            self._grow()

    def _grow(self) -> None:
        """Spawn the user a queued start waits for (its start is dropped if none comes)."""
        try:
            user = self._pool.grow()
        except Exception:  # a user class that cannot be built: the start is not made
            logging.getLogger("harness.worker").exception("could not grow the pool")
            user = None
        if user is None:
            for due in self._growth.lost():
                self._drop(due)
            return
        self._unarrived[id(user)] = user
        self._on_grow(self._clock())

    def _forget_dead(self) -> None:
        """Grown users that died before asking (their on_start failed) cover no start."""
        dead = [key for key, user in self._unarrived.items() if not self._pool.alive(user)]
        for key in dead:
            del self._unarrived[key]
        if dead:
            for due in self._growth.lost(len(dead)):
                self._drop(due)


def install(dispatcher: Dispatcher) -> None:
    """Make every user's top-level task set wait for the dispatcher's permits while it is on."""
    locust_wait: Callable[[TaskSet], None] = TaskSet.wait
    locust_execute: Callable[[TaskSet], None] = TaskSet.execute_next_task

    def wait(self: TaskSet) -> None:
        if not dispatcher.active or self.user._taskset_instance is not self:
            locust_wait(self)
            return
        user: Any = self.user
        if user._state == LOCUST_STATE_STOPPING:
            raise StopUser()
        user._state = LOCUST_STATE_WAITING  # so Locust may stop it while it waits
        if not dispatcher.acquire(user) or user._state == LOCUST_STATE_STOPPING:
            user._state = LOCUST_STATE_STOPPING  # no longer counted as staying
            raise StopUser()
        user._state = LOCUST_STATE_RUNNING

    def execute_next_task(self: TaskSet) -> None:
        first = not getattr(self, "_harness_permitted", False)
        if first and dispatcher.active and self.user._taskset_instance is self:
            self._harness_permitted = True  # type: ignore[attr-defined]
            wait(self)  # the first task of a user also waits for its start
        locust_execute(self)

    TaskSet.wait = wait  # type: ignore[method-assign]
    TaskSet.execute_next_task = execute_next_task  # type: ignore[method-assign]
