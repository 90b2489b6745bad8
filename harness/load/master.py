"""The in-process Locust master: workers, the shape, the exact merge and the timeline.

`MasterSession` owns a Locust `MasterRunner` (Locust as a library), answers each worker's
authenticated hello with its configuration (tokens, items, pacing), merges the workers'
seconds into intervals.jsonl, writes ledger entries, and turns worker arrivals, heartbeat
losses and departures into events by watching `runner.clients`; an arrival-rate stage is
dealt out again across the workers when they change mid-stage (`stage_pacing`).

Every message of ours travels sealed (`harness.load.cluster`); one that fails the check is
dropped and becomes a `message_rejected` event. Locust's own messages from a peer that has
not proven the cluster secret never reach Locust: its `client_ready` is held until its hello
checks out, so Locust neither answers it nor gives it users. Imports Locust: load
processes only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import locust
import zmq
from locust.env import Environment
from locust.rpc import Message
from locust.runners import (
    STATE_MISSING,
    STATE_RUNNING,
    STATE_SPAWNING,
    STATE_STOPPED,
    MasterRunner,
)
from locust.user import User

from harness.errors import RunFailed
from harness.load import cluster, message_checks, messages
from harness.load.aggregator import Aggregator
from harness.load.cache_journal import CacheJournal
from harness.load.generator_health import GeneratorHealth
from harness.load.journal import RunJournal
from harness.load.locust_rpc import guard_receive, quit_workers
from harness.load.open_model import GrowthWatch
from harness.load.shapes import Shape, StageChange, StepResult, locust_shape
from harness.load.stage_pacing import StagePacing
from harness.rundir.cpu import CpuSample
from harness.rundir.memory import MemorySample

STOP_TIMEOUT_S = 15.0
DRAIN_TIMEOUT_S = 3.0
HELLO_GRACE_S = 5.0  # a worker's hello to its Locust client_ready: counted in the split
MAX_REJECTION_EVENTS = 100  # a flooding peer must not fill events.jsonl; the rest are counted


def _short_text(data: Any) -> bool:
    """A Locust version string, and nothing bigger, is worth holding for an unproven peer."""
    return isinstance(data, str) and len(data) <= 64


class MasterSession:
    """One run's master: created before the workers start, `stop()`ped exactly once."""

    def __init__(
        self,
        journal: RunJournal,
        user_classes: list[type[User]],
        host: str | None,
        secret: cluster.ClusterSecret,
        bind_host: str = "127.0.0.1",
        bind_port: int = 0,
        recent_s: float = 120.0,
    ) -> None:
        # Locust's own log lines would repeat what the timeline records; keep real errors
        logging.getLogger("locust").setLevel(logging.ERROR)
        self.journal = journal
        self.aggregator = Aggregator(journal.interval, recent_s=recent_s)
        self.health = GeneratorHealth(journal.cpu, journal.event)
        self.cache = CacheJournal(journal.run_dir)
        self.channel = cluster.Channel(secret, master=True, run_id=journal.manifest.run_id)
        self.worker_config: dict[str, Any] | None = None
        self._waiting_hellos: list[str] = []
        self.authenticated: dict[str, str] = {}  # worker -> the nonce of its hello
        self._held_ready: dict[str, Message] = {}  # Locust's client_ready, until the hello
        self.rejected = 0
        self.entry_listeners: list[Callable[[list[dict[str, Any]]], None]] = []
        # Locust's global events: a locustfile's `@events.request.add_listener` hooks work
        self.env = Environment(user_classes=user_classes, host=host, events=locust.events)
        try:
            self.runner: MasterRunner = self.env.create_master_runner(bind_host, bind_port)
        except SystemExit:  # Locust exits when the port is taken
            raise RunFailed(f"cannot listen for workers on {bind_host}:{bind_port}") from None
        self.runner.server.socket.setsockopt(zmq.MAXMSGSIZE, cluster.MAX_WIRE_BYTES)
        undecodable = lambda why: self._reject("unknown", "undecodable", why)  # noqa: E731
        guard_receive(self.runner.server, "recv_from_client", undecodable)
        self._locust_handle_message = self.runner.handle_message
        # Locust's one seam for incoming messages: unauthenticated peers stop here
        self.runner.handle_message = self._gate  # type: ignore[method-assign]
        self.runner.register_message(messages.HELLO, self._on_hello)
        self.runner.register_message(messages.INTERVALS, self._on_intervals)
        self.known: set[str] = set()
        self.lost: set[str] = set()
        self.quit: set[str] = set()
        self._watching = True
        self._shape: Any = None
        self.growth = GrowthWatch()
        self.pacing = StagePacing(lambda worker, body: self._send(messages.PACING, body, worker))
        self._hello_t: dict[str, float] = {}  # workers that said hello, not yet Locust's

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
        self.worker_config = {**worker_config, "host": host}
        for worker in self._waiting_hellos:
            self._send_config(worker)
        self._waiting_hellos.clear()

    def _gate(self, client_id: str, msg: Message) -> None:
        """Pass a message to Locust only from a worker that proved the cluster secret."""
        if msg.type in (messages.HELLO, messages.INTERVALS):
            if msg.node_id != client_id:  # our envelope names the connection it came on
                self._reject(client_id, msg.type, "node id differs from the connection's")
            else:
                self._locust_handle_message(client_id, msg)
        elif client_id in self.authenticated and msg.node_id == client_id:
            self._locust_handle_message(client_id, msg)
        elif msg.type == "client_ready" and _short_text(msg.data) and len(self._held_ready) < 1000:
            self._held_ready[client_id] = msg  # answered once its hello checks out
        # anything else from an unproven peer is Locust's, unanswered and not ours to log

    def _open(self, msg: Message, check: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
        try:
            body = self.channel.open(msg.type, msg.data, msg.node_id)
            check(body)
        except message_checks.Rejected as exc:
            self._reject(msg.node_id, msg.type, str(exc))
            return None
        return body

    def _reject(self, worker: str, msg_type: str, reason: str) -> None:
        self.rejected += 1
        if self.rejected <= MAX_REJECTION_EVENTS:
            self.journal.event(
                "message_rejected", worker=str(worker)[:128], type=str(msg_type)[:64], reason=reason
            )

    def _on_hello(self, environment: Environment, msg: Message) -> None:
        body = self._open(msg, lambda body: None)
        if body is None:
            return
        worker = msg.node_id
        self.authenticated[worker] = str(body["nonce"])
        held = self._held_ready.pop(worker, None)
        if held is not None:
            self._locust_handle_message(worker, held)
        self._hello_t[worker] = time.time()
        if self.worker_config is None:  # the target is still starting
            self._waiting_hellos.append(worker)
        else:
            self._resplit_if_changed(time.time(), config_to=worker)  # its own share
            self._send_config(worker)

    def _send(self, msg_type: str, body: dict[str, Any], worker: str) -> None:
        sealed = self.channel.seal(msg_type, body, worker)
        self.runner.send_message(msg_type, sealed, client_id=worker)

    def _send_config(self, worker: str) -> None:
        assert self.worker_config is not None
        body = {**self.worker_config, **self.pacing.of(worker)}
        body["nonce"] = self.authenticated[worker]
        self._send(messages.CONFIG, body, worker)

    def _connected(self) -> list[str]:
        """Authenticated workers Locust still counts (our messages go to these only)."""
        return [worker for worker in self.runner.clients if worker in self.authenticated]

    def _pacing_workers(self, now: float) -> frozenset[str]:
        """The workers a stage's rate is dealt across: authenticated ones Locust counts and
        hears from, and ones that said hello moments ago (Locust's hello follows)."""
        clients = self.runner.clients
        live = {w for w, n in clients.items() if w in self.authenticated}
        live -= {w for w in live if clients[w].state == STATE_MISSING}
        arriving = {w for w, t in self._hello_t.items() if w not in clients}
        return frozenset(live | {w for w in arriving if now - self._hello_t[w] < HELLO_GRACE_S})

    def _on_intervals(self, environment: Environment, msg: Message) -> None:
        data = self._open(msg, message_checks.check_intervals)
        if data is None:
            return
        for listener in self.entry_listeners:
            listener(data["entries"])
        if (warning := self.growth.warning(data["entries"])) is not None:
            self.journal.event("warning", message=warning)
        self.aggregator.add(msg.node_id, data["entries"], data.get("through_t"))
        if "cache" in data:
            self.cache.add(data["cache"], data.get("cache_dropped", 0))
        memory = data.get("memory")
        if memory is not None:
            sample = MemorySample(
                time.time(), f"worker {msg.node_id}", "worker", memory["pid"], memory["rss_bytes"]
            )
            self.journal.memory([sample])
        cpu = data.get("cpu")
        if cpu is not None:
            self.health.add(
                CpuSample(time.time(), f"worker {msg.node_id}", "worker", cpu["pid"],
                          float(cpu["cpu_pct"]), float(cpu["wait_pct"]))
            )  # fmt: skip
        if data["ledger"]:
            self.journal.ledger(data["ledger"])

    def watch(self) -> None:
        """Turn changes in `runner.clients` into worker events (call every ~0.5 s)."""
        if not self._watching:
            return
        now = time.time()
        current = {w: n for w, n in self.runner.clients.items() if w in self.authenticated}
        for worker, node in current.items():
            if worker not in self.known:
                self.known.add(worker)
                self._hello_t.pop(worker, None)
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
        self._resplit_if_changed(now)

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
    def shape_error(self) -> str | None:
        """Why the shape's tick raised (the run fails), or None."""
        return getattr(self._shape, "error", None)

    @property
    def shape_finished(self) -> bool:
        """The shape said stop and Locust has stopped the users."""
        return bool(self._shape is not None and self._shape.done and not self.runner.shape_greenlet)

    def on_stage(self, change: StageChange) -> None:
        """A shape moved into a stage: tell the workers its pacing, and the timeline."""
        self.pacing.deal(change, self._pacing_workers(change.t), change.t)
        self._config_joining()
        self.growth.stage_began(change.name, change.arrival, change.users, change.t)
        self.journal.event(
            "stage",
            change.t,
            name=change.name,
            users=change.users,
            spawn_rate=change.spawn_rate,
            rate_per_s=change.rate_per_s,
            **({"max_in_flight": change.arrival.max_users} if change.arrival else {}),
        )

    def _resplit_if_changed(self, now: float, config_to: str | None = None) -> None:
        """Deal an arrival-rate stage out again when its workers changed mid-stage (one
        lost, quit, joined or back), so the run-wide rate stays the stage's: `rate_resplit`."""
        workers = self._pacing_workers(now)
        if not self._watching or not self.pacing.wants_resplit(workers):
            return
        if (self._shape is not None and self._shape.done) or self.runner.state not in (
            STATE_SPAWNING,
            STATE_RUNNING,
        ):  # the load is over or stopping: its dispatchers are halted
            return
        assert self.pacing.change is not None
        plans = self.pacing.deal(self.pacing.change, workers, now, True, config_to)
        self._config_joining()
        self.journal.event("rate_resplit", now, **self.pacing.resplit_event(now, plans))

    def _config_joining(self) -> None:
        if self.worker_config is not None and self.pacing.for_joining is not None:
            self.worker_config.update(self.pacing.for_joining)

    def on_step(self, result: StepResult, highest_held_rate_per_s: Callable[[], float]) -> None:
        """An extreme step was judged: `extreme_step`, and `extreme_break` when it broke."""
        detail: dict[str, Any] = {
            "achieved_rate_per_s": round(result.achieved_rate_per_s, 2),
            "p95_ms": round(result.p95_ms, 3),
            "error_rate": round(result.error_rate, 5),
            "reason": result.reason,
        }
        self.journal.event(
            "extreme_step",
            rate_per_s=result.rate_per_s,
            held=result.held,
            outcome=result.outcome,
            **detail,
        )
        if result.outcome == "broke":
            self.journal.event(
                "extreme_break",
                rate_per_s=result.rate_per_s,
                held=False,
                highest_held_rate_per_s=highest_held_rate_per_s(),
                **detail,
            )

    def on_extreme_end(self, limit: str, highest_held_rate_per_s: float, steps: int) -> None:
        """Extreme stopped stepping: what the limit was (`extreme_end`)."""
        self.journal.event(
            "extreme_end",
            limit=limit,
            highest_held_rate_per_s=highest_held_rate_per_s,
            steps_judged=steps,
        )

    def refresh_tokens(self, tokens: dict[str, str]) -> None:
        """Replace the workers' tokens (a scenario's key rotation): every worker, and any
        worker that joins later, gets the configuration again with the new tokens."""
        if self.worker_config is None:
            return
        self.worker_config["tokens"] = {**self.worker_config.get("tokens", {}), **tokens}
        for worker in self._connected():  # never a broadcast: proven workers only
            self._send_config(worker)

    def flush(self) -> None:
        """Write complete seconds and push every file to the OS."""
        self.aggregator.flush()
        self.cache.flush()
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
        if self.rejected > MAX_REJECTION_EVENTS:
            self.journal.event(
                "message_rejected", now, count=self.rejected, reason="in all (events capped)"
            )
        self.cache.close()
        quit_workers(self.runner)
        self.runner.server.close(linger=0)  # type: ignore[no-untyped-call]
        self.journal.flush()
