"""The arrival-rate executor on a worker: starts on a schedule, idle users as the pool.

Any user class runs under it unchanged, ours or a locustfile's: `install()` replaces the
wait of each user's top-level task set (Locust's `TaskSet.wait`) while an arrival-rate stage
is in force, so a user that finished a task waits for a start permit instead of its
`wait_time`, and its first task waits for one too. The `Dispatcher` greenlet hands a
permit to an idle user at each intended start of the `StartSchedule`; when no user is idle
the start is dropped and counted in the recorder (`dropped_iterations`). A stage's schedule
starts once this worker's users are spawned (at most `POOL_WAIT_S` later). Nested task sets
keep their own waits (a whole top-level task is one iteration). Imports Locust and gevent:
load processes only.
"""

from __future__ import annotations

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

from harness.load.open_model import StartSchedule, WorkerArrivals

POOL_WAIT_S = 5.0


class _Waiter:
    """One idle user waiting for a start permit."""

    __slots__ = ("cancelled", "permit")

    def __init__(self) -> None:
        self.permit: gevent.event.AsyncResult = gevent.event.AsyncResult()
        self.cancelled = False


class Dispatcher:
    """Starts iterations on this worker's schedule; drops a start when no user is idle."""

    def __init__(
        self,
        on_start: Callable[[float, bool], None],
        clock: Callable[[], float] = time.time,
        pool_ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self._on_start = on_start
        self._pool_ready = pool_ready
        self._clock = clock
        self._idle: deque[_Waiter] = deque()
        self._greenlet: Greenlet | None = None
        self.plan: WorkerArrivals | None = None
        self.started = 0
        self.dropped = 0
        self.lag_s: list[float] = []  # actual − intended start of the last starts (bench)
        self.keep_lags = 0

    @property
    def active(self) -> bool:
        """An arrival-rate stage is in force."""
        return self.plan is not None

    def configure(self, plan: WorkerArrivals | None) -> None:
        """Follow a new stage's schedule from now on (None: back to the closed model)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        self.plan = plan
        if plan is None:
            while self._idle:  # waiting users go back to their own wait_time
                self._idle.popleft().permit.set(None)
            return
        self._greenlet = gevent.spawn(self._run, plan)

    def halt(self) -> None:
        """The load is stopping: no more starts, and none dropped while its users go away."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def acquire(self) -> None:
        """Block the calling user until its next start (at once when the executor is off)."""
        waiter = _Waiter()
        self._idle.append(waiter)
        try:
            intended = waiter.permit.get()
        finally:
            waiter.cancelled = True  # a stopped user (GreenletExit) is never handed a start
        if intended is not None and len(self.lag_s) < self.keep_lags:
            self.lag_s.append(self._clock() - intended)

    def _run(self, plan: WorkerArrivals) -> None:
        # the stage's pool first (bounded): starts due before its users exist would all drop
        deadline = time.monotonic() + POOL_WAIT_S
        while not self._pool_ready() and time.monotonic() < deadline:
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
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.cancelled:
                waiter.cancelled = True
                waiter.permit.set(due)
                self.started += 1
                self._on_start(due, True)
                return
        self.dropped += 1
        self._on_start(due, False)


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
        dispatcher.acquire()
        if user._state == LOCUST_STATE_STOPPING:
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
