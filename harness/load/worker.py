"""A load process: joins a master, runs the users, records every request, ships each second.

Started as `harness worker --master HOST[:PORT]`, locally by `harness run` or from another
machine. Importing this module imports Locust (gevent monkey-patching): load processes only.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import gevent
import locust
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.user import User

from harness import ledger
from harness.errors import RunFailed
from harness.load import messages
from harness.load.messages import ROLES
from harness.load.recorder import IntervalRecorder
from harness.load.users import SETTINGS, USER_CLASSES

SHIP_OFFSET_S = 0.05  # ship just after each whole second, once that second is complete


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


def _yield() -> None:
    """Let other greenlets (responses in flight) run between two histogram encodings."""
    gevent.sleep(0)


class Shipper:
    """Sends finished seconds and acknowledged writes to the master."""

    def __init__(self, runner: WorkerRunner, recorder: IntervalRecorder) -> None:
        self.runner = runner
        self.recorder = recorder
        self.messages_sent = 0

    def ship(self, final: bool = False) -> None:
        """Send every finished second (and the partial one when `final`) with a watermark."""
        now = time.time()
        entries = self.recorder.take(now, final=final, pause=None if final else _yield)
        through_t = now if final else float(int(now))
        payload = {
            "entries": entries,
            "through_t": through_t,
            "ledger": self.recorder.take_ledger(),
        }
        self.runner.send_message(messages.INTERVALS, payload)
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
    env = Environment(user_classes=classes, events=locust.events)  # a locustfile's hooks too
    env.events.request.add_listener(recorder.on_request)
    try:
        runner = env.create_worker_runner(master_host, master_port)
    except ConnectionError:
        raise RunFailed(f"no master answered at {master_host}:{master_port}") from None
    ledger.install(recorder.add_ledger, worker=runner.client_id)
    print(f"worker {runner.client_id} joined {master_host}:{master_port}", flush=True)
    shipper = Shipper(runner, recorder)
    # the final partial second leaves before Locust tells the master this worker stopped
    env.events.test_stop.add_listener(lambda **_kw: shipper.ship(final=True))
    runner.register_message(messages.CONFIG, lambda environment, msg: apply_config(msg.data))
    runner.register_message(
        messages.PACING,
        lambda environment, msg: setattr(
            SETTINGS, "per_user_rate_per_s", msg.data.get("per_user_rate_per_s")
        ),
    )
    runner.greenlet.spawn(shipper.loop)
    runner.send_message(messages.HELLO, {"pid": os.getpid()})

    def quit_soon() -> None:
        gevent.spawn(runner.quit)

    gevent.signal_handler(signal.SIGTERM, quit_soon)
    gevent.signal_handler(signal.SIGINT, quit_soon)
    if parent_pid is not None:
        gevent.spawn(_watch_parent, parent_pid, runner)
    runner.greenlet.join()
    env.events.quitting.fire(environment=env, reverse=True)  # tells the master we left
    gevent.sleep(0.2)  # let the quit message leave before the process ends
    return 0


def _watch_parent(parent_pid: int, runner: WorkerRunner) -> None:
    """A local worker leaves when the `harness run` that started it is gone."""
    while os.getppid() == parent_pid:
        gevent.sleep(1.0)
    runner.quit()
