"""A load process: joins a master, runs the users, records every request, ships each second.

Started as `harness worker --master HOST[:PORT]`, locally by `harness run` or from another
machine. The worker trusts only what the master seals with the cluster secret
(`harness.load.cluster`): its users start, with the master's tokens and against the
master's target, only once an authenticated configuration arrived; the target Locust's own
(unauthenticated) spawn message names is ignored. Importing this module imports Locust
(gevent monkey-patching): load processes only.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import locust
import zmq
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_RUNNING, WorkerRunner
from locust.user import User
from locust.user.task import LOCUST_STATE_STOPPING

from harness import ledger
from harness.errors import RunFailed
from harness.load import arrivals, cluster, message_checks, messages
from harness.load.arrivals import Dispatcher, PoolHooks
from harness.load.cache_log import CacheTap
from harness.load.cpu_meter import own_cpu
from harness.load.locust_rpc import guard_receive
from harness.load.memory_sampler import own_memory
from harness.load.messages import ROLES
from harness.load.open_model import WorkerArrivals, class_to_grow
from harness.load.recorder import IntervalRecorder
from harness.load.users import SETTINGS, USER_CLASSES

SHIP_OFFSET_S = 0.05  # ship just after each whole second, once that second is complete
CONFIG_TIMEOUT_S = 120.0  # users wait this long for an authenticated configuration


def env_tokens() -> dict[str, str]:
    """Tokens from HARNESS_TOKEN_ADMIN / _USER / _VIEWER / _SERVICE, for `--host` targets."""
    tokens = {}
    for role in ROLES:
        value = os.environ.get(f"{messages.TOKEN_ENV_PREFIX}{role.upper()}")
        if value:
            tokens[role] = value.strip()
    return tokens


def apply_config(data: dict[str, Any]) -> None:
    """Take the master's `harness_config`: tokens (this machine's env fills gaps), items, pacing."""
    SETTINGS.tokens = {**env_tokens(), **(data.get("tokens") or {})}
    if data.get("item_ids"):
        SETTINGS.item_ids = [int(i) for i in data["item_ids"]]
    SETTINGS.per_user_rate_per_s = data.get("per_user_rate_per_s")
    apply_arrival(data, restart=False)


def apply_arrival(data: dict[str, Any], restart: bool = True) -> None:
    """Follow the `arrival` schedule of a pacing or config body (None: the closed model).

    A config body repeats the current stage's schedule (a token refresh): it restarts only
    a schedule that changed; a pacing body is a new stage and always restarts it. A body
    marked `resplit` is the same stage dealt out again across a changed set of workers: the
    schedule restarts from now without dropping starts that wait for a grown user.
    """
    if DISPATCHER is None:
        return
    raw = data.get("arrival")
    plan = WorkerArrivals.from_json(raw) if raw else None
    if restart or plan != DISPATCHER.plan:
        DISPATCHER.configure(plan, resplit=bool(data.get("resplit")))


DISPATCHER: Dispatcher | None = None
"""This worker process's arrival-rate dispatcher (set by `run_worker`)."""


class PinnedEnvironment(Environment):
    """An Environment whose target is the one the authenticated configuration names.

    Locust's spawn message sets `host` on the worker; it is not authenticated, so it only
    counts until the harness's own configuration has named the target.
    """

    pinned_host: str | None = None

    @property
    def host(self) -> str | None:
        return self.pinned_host if self.pinned_host is not None else self._locust_host

    @host.setter
    def host(self, value: str | None) -> None:
        self._locust_host = value

    def create_harness_worker_runner(
        self, master_host: str, master_port: int, link: MasterLink
    ) -> HarnessWorkerRunner:
        """Locust's `create_worker_runner`, with the harness's runner class."""
        return self._create_runner(HarnessWorkerRunner, master_host, master_port, link)


class MasterLink:
    """This worker's side of the channel: opens the master's messages, seals its own."""

    def __init__(self, env: PinnedEnvironment, secret: cluster.ClusterSecret) -> None:
        self.env = env
        self.channel = cluster.Channel(secret, master=False)
        self.configured = gevent.event.Event()
        self.rejected = 0
        self._runner: WorkerRunner | None = None

    @property
    def runner(self) -> WorkerRunner:
        """The Locust worker runner this link speaks through."""
        assert self._runner is not None, "attach() first"
        return self._runner

    def attach(self, runner: WorkerRunner) -> None:
        """Take over `runner`'s messages of ours, then say hello (before Locust's own
        `client_ready`: the master lets Locust answer only a worker that proved the secret)."""
        self._runner = runner
        runner.client.socket.setsockopt(zmq.MAXMSGSIZE, cluster.MAX_WIRE_BYTES)
        guard_receive(runner.client, "recv", self._dropped)
        runner.register_message(messages.CONFIG, self.on_config)
        runner.register_message(messages.PACING, self.on_pacing)
        self.gate_users()
        self.hello()

    def send(self, msg_type: str, body: dict[str, Any]) -> None:
        """Seal and send one of our messages to the master."""
        self.runner.send_message(msg_type, self.channel.seal(msg_type, body, self.runner.client_id))

    def hello(self) -> None:
        """Prove the secret to the master and ask for the configuration."""
        sealed = self.channel.hello(self.runner.client_id, pid=os.getpid())
        self.runner.send_message(messages.HELLO, sealed)

    def _dropped(self, reason: str) -> None:
        self.rejected += 1
        logging.getLogger("harness.worker").error("dropped a frame from the master: %s", reason)

    def _open(self, msg: Message, check: Any) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = self.channel.open(msg.type, msg.data, self.runner.client_id)
            check(body)
        except message_checks.Rejected as exc:
            self.rejected += 1
            log = logging.getLogger("harness.worker")
            log.error("dropped %s from the master: %s", msg.type, exc)
            return None
        return body

    def on_config(self, environment: Environment, msg: Message) -> None:
        body = self._open(msg, message_checks.check_config)
        if body is None:
            return
        apply_config(body)
        if body.get("host"):
            self.env.pinned_host = body["host"]
        self.configured.set()

    def on_pacing(self, environment: Environment, msg: Message) -> None:
        body = self._open(msg, message_checks.check_pacing)
        if body is not None:
            SETTINGS.per_user_rate_per_s = body.get("per_user_rate_per_s")
            apply_arrival(body)

    def gate_users(self) -> None:
        """Start users (Locust's spawn) only after an authenticated configuration."""
        start_worker = self.runner.start_worker

        def start_when_configured(user_classes_count: dict[str, int], **kwargs: Any) -> Any:
            if not self.configured.wait(timeout=CONFIG_TIMEOUT_S):
                logging.getLogger("harness.worker").error(
                    "no authenticated configuration from the master in %gs: users not started",
                    CONFIG_TIMEOUT_S,
                )
                return None
            return start_worker(user_classes_count, **kwargs)

        self.runner.start_worker = start_when_configured  # type: ignore[method-assign]


def _yield() -> None:
    """Let other greenlets (responses in flight) run between two histogram encodings."""
    gevent.sleep(0)


class HarnessWorkerRunner(WorkerRunner):
    """Locust's worker runner, with the harness's hello sent before `client_ready`."""

    def __init__(self, environment: Environment, host: str, port: int, link: MasterLink) -> None:
        self._link: MasterLink | None = link
        super().__init__(environment, host, port)

    def connect_to_master(self) -> None:
        """Locust's connect (it waits for the master's ack), after our hello on first call."""
        if self._link is not None:
            link, self._link = self._link, None
            link.attach(self)
        super().connect_to_master()  # type: ignore[no-untyped-call]


class Shipper:
    """Sends finished seconds and acknowledged writes to the master."""

    def __init__(
        self, link: MasterLink, recorder: IntervalRecorder, tap: CacheTap | None = None
    ) -> None:
        self.link = link
        self.recorder = recorder
        self.tap = tap or CacheTap()
        self.messages_sent = 0

    def ship(self, final: bool = False) -> None:
        """Send every finished second (and the partial one when `final`) with a watermark."""
        if not self.link.configured.is_set():
            return  # no proven master yet: nothing recorded, and nowhere to send it
        now = time.time()
        entries = self.recorder.take(now, final=final, pause=None if final else _yield)
        through_t = now if final else float(int(now))
        payload = {
            "entries": entries,
            "through_t": through_t,
            "ledger": self.recorder.take_ledger(),
            "memory": own_memory(),
            "cpu": own_cpu(),
        }
        cache, dropped = self.tap.take()
        if cache or dropped:
            payload.update(cache=cache, cache_dropped=dropped)
        self.link.send(messages.INTERVALS, payload)
        self.messages_sent += 1

    def loop(self) -> None:
        """Ship once a second, just after each whole second."""
        while True:
            now = time.time()
            gevent.sleep(int(now) + 1 + SHIP_OFFSET_S - now)
            self.ship()


def run_worker(
    master_host: str,
    master_port: int,
    secret: cluster.ClusterSecret,
    locustfile: Path | None = None,
    parent_pid: int | None = None,
) -> int:
    """Join the master and run until it says quit (or SIGTERM/SIGINT); returns an exit code."""
    from harness.load.locustfile import load_user_classes

    classes: list[type[User]] = (
        load_user_classes(locustfile) if locustfile is not None else list(USER_CLASSES)
    )
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s worker %(name)s: %(message)s")
    recorder = IntervalRecorder()
    SETTINGS.tokens = env_tokens()
    env = PinnedEnvironment(user_classes=classes, events=locust.events)  # a locustfile's hooks
    global DISPATCHER
    DISPATCHER = Dispatcher(
        recorder.arrival,
        pool_ready=lambda: _pool_ready(env),
        pool=RunnerPool(env),
        on_grow=recorder.grown,
    )
    arrivals.install(DISPATCHER)
    dispatcher = DISPATCHER
    env.events.test_stopping.add_listener(lambda **_kw: dispatcher.halt())  # type: ignore[no-untyped-call]
    env.events.request.add_listener(recorder.on_request)  # type: ignore[no-untyped-call]
    tap = CacheTap()
    env.events.request.add_listener(tap.on_request)  # type: ignore[no-untyped-call]
    link = MasterLink(env, secret)
    try:
        runner = env.create_harness_worker_runner(master_host, master_port, link)
    except ConnectionError:
        raise RunFailed(f"no master answered at {master_host}:{master_port}") from None
    ledger.install(recorder.add_ledger, worker=runner.client_id)
    print(f"worker {runner.client_id} joined {master_host}:{master_port}", flush=True)
    shipper = Shipper(link, recorder, tap)
    # the final partial second leaves before Locust tells the master this worker stopped
    env.events.test_stop.add_listener(lambda **_kw: shipper.ship(final=True))  # type: ignore[no-untyped-call]
    runner.greenlet.spawn(shipper.loop)

    def quit_soon() -> None:
        gevent.spawn(runner.quit)

    gevent.signal_handler(signal.SIGTERM, quit_soon)
    gevent.signal_handler(signal.SIGINT, quit_soon)
    if parent_pid is not None:
        gevent.spawn(_watch_parent, parent_pid, runner)
    runner.greenlet.join()
    env.events.quitting.fire(environment=env, reverse=True)  # type: ignore[no-untyped-call]
    gevent.sleep(0.2)  # let the quit message leave before the process ends
    return 0


class RunnerPool(PoolHooks):
    """The pool is the Locust runner's users: it grows through the runner's own
    `spawn_users`, so the master's next spawn message reconciles the counts as usual."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    def size(self) -> int:
        runner = self.env.runner
        return 0 if runner is None else runner.user_count

    def staying(self) -> int:
        runner = self.env.runner
        if runner is None:
            return 0
        greenlets = list(runner.user_greenlets)
        return sum(1 for g in greenlets if g.args and g.args[0]._state != LOCUST_STATE_STOPPING)

    def settled(self) -> bool:
        runner = self.env.runner
        return runner is None or runner.user_count >= runner.target_user_count

    def grow(self) -> User | None:
        runner = self.env.runner
        if runner is None:
            return None
        weighted = [c for c in runner.user_classes if not getattr(c, "fixed_count", 0)]
        classes = weighted or runner.user_classes  # fixed_count classes only when all are
        weights = {c.__name__: float(getattr(c, "weight", 1)) for c in classes}
        name = class_to_grow(runner.user_classes_count, weights)
        users = runner.spawn_users({name: 1})
        return users[0] if users else None

    def alive(self, user: User) -> bool:
        greenlet = getattr(user, "_greenlet", None)
        return greenlet is None or not greenlet.dead


def _pool_ready(env: Environment) -> bool:
    """This worker has carried out a spawn message from the master and its users are all
    spawned. A worker dealt no users of a small `pre_allocated` has a pool of none: it is
    ready at once and grows on its first start (waiting for "some users" held its share of
    the schedule back for the whole pool wait, its starts neither made nor dropped)."""
    runner = env.runner
    if runner is None or runner.user_count < runner.target_user_count:
        return False
    return runner.user_count > 0 or getattr(runner, "worker_state", None) == STATE_RUNNING


def _watch_parent(parent_pid: int, runner: WorkerRunner) -> None:
    """A local worker leaves when the `harness run` that started it is gone."""
    while os.getppid() == parent_pid:
        gevent.sleep(1.0)
    runner.quit()
