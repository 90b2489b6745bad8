"""The in-process Locust master: workers, the shape, the exact merge and the timeline.

`MasterSession` owns a Locust `MasterRunner` (Locust as a library), answers each worker's
hello with its configuration (tokens, items, pacing), merges the workers' seconds into
intervals.jsonl, writes ledger entries, and turns worker arrivals, heartbeat losses and
departures into events by watching `runner.clients`. Imports Locust: load processes only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import locust
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_MISSING, STATE_STOPPED, MasterRunner
from locust.user import User

from harness.errors import RunFailed
from harness.load import messages
from harness.load.aggregator import Aggregator
from harness.load.journal import RunJournal
from harness.load.shapes import Shape, StageChange, StepResult, locust_shape

STOP_TIMEOUT_S = 15.0
DRAIN_TIMEOUT_S = 3.0


class MasterSession:
    """One run's master: created before the workers start, `stop()`ped exactly once."""

    def __init__(
        self,
        journal: RunJournal,
        user_classes: list[type[User]],
        host: str | None,
        bind_host: str = "127.0.0.1",
        bind_port: int = 0,
        recent_s: float = 120.0,
    ) -> None:
        # Locust's own log lines would repeat what the timeline records; keep real errors
        logging.getLogger("locust").setLevel(logging.ERROR)
        self.journal = journal
        self.aggregator = Aggregator(journal.interval, recent_s=recent_s)
        self.worker_config: dict[str, Any] | None = None
        self._waiting_hellos: list[str] = []
        # Locust's global events: a locustfile's `@events.request.add_listener` hooks work
        self.env = Environment(user_classes=user_classes, host=host, events=locust.events)
        try:
            self.runner: MasterRunner = self.env.create_master_runner(bind_host, bind_port)
        except SystemExit:  # Locust exits when the port is taken
            raise RunFailed(f"cannot listen for workers on {bind_host}:{bind_port}") from None
        self.runner.register_message(messages.HELLO, self._on_hello)
        self.runner.register_message(messages.INTERVALS, self._on_intervals)
        self.known: set[str] = set()
        self.lost: set[str] = set()
        self.quit: set[str] = set()
        self._watching = True
        self._shape: Any = None

    @property
    def port(self) -> int:
        """The port workers connect to."""
        return int(self.runner.server.port)

    @property
    def live_workers(self) -> int:
        """Workers connected and not lost."""
        return len(self.known - self.lost - self.quit)

    def configure(self, host: str, worker_config: dict[str, Any]) -> None:
        """Set the target and what each worker gets; answers workers that already asked."""
        self.env.host = host
        self.worker_config = dict(worker_config)
        for worker in self._waiting_hellos:
            self.runner.send_message(messages.CONFIG, self.worker_config, client_id=worker)
        self._waiting_hellos.clear()

    def _on_hello(self, environment: Environment, msg: Message) -> None:
        if self.worker_config is None:  # the target is still starting
            self._waiting_hellos.append(msg.node_id)
        else:
            self.runner.send_message(messages.CONFIG, self.worker_config, client_id=msg.node_id)

    def _on_intervals(self, environment: Environment, msg: Message) -> None:
        data = msg.data
        self.aggregator.add(msg.node_id, data.get("entries", ()), data.get("through_t"))
        if data.get("ledger"):
            self.journal.ledger(data["ledger"])

    def watch(self) -> None:
        """Turn changes in `runner.clients` into worker events (call every ~0.5 s)."""
        if not self._watching:
            return
        now = time.time()
        current = dict(self.runner.clients.items())
        for worker, node in current.items():
            if worker not in self.known:
                self.known.add(worker)
                self.aggregator.worker_joined(worker, now)
                self.journal.event("worker_joined", now, worker=worker)
            elif node.state == STATE_MISSING and worker not in self.lost:
                self._worker_gone(worker, "worker_lost", now)
            elif node.state != STATE_MISSING and worker in self.lost:  # heartbeats resumed
                self.lost.discard(worker)
                self.aggregator.worker_joined(worker, now)
                self.journal.event("warning", now, message=f"worker {worker} is back")
        for worker in self.known - self.lost - self.quit - set(current):
            self._worker_gone(worker, "worker_quit", now)

    def _worker_gone(self, worker: str, kind: str, now: float) -> None:
        (self.lost if kind == "worker_lost" else self.quit).add(worker)
        self.aggregator.worker_left(worker)
        self.journal.event(kind, now, worker=worker)

    def wait_for_workers(
        self, count: int, timeout_s: float, still_possible: Callable[[], str | None]
    ) -> None:
        """Block until `count` workers joined; RunFailed after `timeout_s` or when hopeless."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.watch()
            if self.live_workers >= count:
                return
            reason = still_possible()
            if reason is None and time.monotonic() > deadline:
                reason = f"waited {timeout_s:g}s for {count} workers, {self.live_workers} joined"
            if reason is not None:
                raise RunFailed(reason)
            gevent.sleep(0.1)

    def start(self, shape: Shape) -> None:
        """Start the shape: Locust ticks it about once a second on this process."""
        self._shape = locust_shape(shape)
        self.env.shape_class = self._shape
        self._shape.runner = self.runner
        self.runner.start_shape()

    @property
    def shape_finished(self) -> bool:
        """The shape said stop and Locust has stopped the users."""
        return bool(self._shape is not None and self._shape.done and not self.runner.shape_greenlet)

    def on_stage(self, change: StageChange) -> None:
        """A shape moved into a stage: tell the workers its pacing, and the timeline."""
        pacing = {"per_user_rate_per_s": change.per_user_rate_per_s}
        if self.worker_config is not None:
            self.worker_config.update(pacing)
        self.runner.send_message(messages.PACING, pacing)
        self.journal.event(
            "stage",
            change.t,
            name=change.name,
            users=change.users,
            spawn_rate=change.spawn_rate,
            rate_per_s=change.rate_per_s,
        )

    def on_step(self, result: StepResult, highest_held_rate_per_s: Callable[[], float]) -> None:
        """An extreme step was judged: `extreme_step`, and `extreme_break` when it broke."""
        detail: dict[str, Any] = {
            "achieved_rate_per_s": round(result.achieved_rate_per_s, 2),
            "p95_ms": round(result.p95_ms, 3),
            "error_rate": round(result.error_rate, 5),
            "reason": result.reason,
        }
        self.journal.event("extreme_step", rate_per_s=result.rate_per_s, held=result.held, **detail)
        if not result.held:
            self.journal.event(
                "extreme_break",
                rate_per_s=result.rate_per_s,
                held=False,
                highest_held_rate_per_s=highest_held_rate_per_s(),
                **detail,
            )

    def refresh_tokens(self, tokens: dict[str, str]) -> None:
        """Replace the workers' tokens (a scenario's key rotation): every worker, and any
        worker that joins later, gets the configuration again with the new tokens."""
        if self.worker_config is None:
            return
        self.worker_config["tokens"] = {**self.worker_config.get("tokens", {}), **tokens}
        self.runner.send_message(messages.CONFIG, self.worker_config)  # to every worker

    def flush(self) -> None:
        """Write complete seconds and push every file to the OS."""
        self.aggregator.flush()
        self.journal.flush()

    def stop(self) -> None:
        """Stop the users, collect every worker's last data, write it, and let workers go."""
        self._watching = False
        if self.runner.state != STATE_STOPPED:
            stopper = gevent.spawn(self.runner.stop)
            stopper.join(timeout=STOP_TIMEOUT_S)
            if not stopper.dead:
                stopper.kill(block=False)
                self.journal.event("warning", message="workers did not stop in time")
        stop_t = time.time()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline and any(
            mark < stop_t - 1 for mark in self.aggregator.watermarks().values()
        ):
            gevent.sleep(0.05)
        self.aggregator.flush(final=True)
        now = time.time()
        for worker in sorted(self.known - self.lost - self.quit):
            self.quit.add(worker)
            self.journal.event("worker_quit", now, worker=worker)
        self.runner.quit()
        self.runner.server.close(linger=0)
        self.journal.flush()
