"""Locust's RPC seams the harness hardens, on the master and the workers.

`guard_receive` keeps a receiving greenlet alive through frames it cannot decode;
`quit_workers` lets the master's workers go without Locust's fixed sleep. Imports Locust:
load processes only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
from locust.exception import RPCError
from locust.rpc import Message
from locust.runners import MasterRunner

QUIT_WAIT_S = 0.5


def guard_receive(rpc: Any, method: str, on_bad: Callable[[str], None]) -> None:
    """Make `rpc.<method>()` (Locust's receive) skip frames it cannot decode.

    Locust decodes each frame with `Message(*msgpack.loads(...))` and lets anything but its
    own RPC errors escape, which ends its receiving greenlet: one malformed frame from any
    peer (a three-byte msgpack list) would leave the master deaf for the rest of the run.
    """
    receive = getattr(rpc, method)

    def guarded() -> Any:
        while True:
            try:
                return receive()
            except RPCError:
                raise  # the network itself: Locust handles these
            except Exception as exc:  # a frame that is not a Locust message: dropped
                on_bad(f"undecodable frame: {type(exc).__name__}")

    setattr(rpc, method, guarded)


def quit_workers(runner: MasterRunner, bound_s: float = QUIT_WAIT_S) -> None:
    """`MasterRunner.quit()` without its fixed half-second sleep: tell every worker to quit,
    then wait until each has said it left, at most `bound_s` (Locust's own half second).

    Locust sleeps so that workers' last statistics arrive; the harness has drained its own
    data before this, so only the quit messages need time to reach the workers.
    """
    runner.stop(send_stop_to_client=False)
    for client in runner.clients.all:
        runner.server.send_to_client(Message("quit", None, client.id))  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + bound_s
    while len(runner.clients) and time.monotonic() < deadline:
        gevent.sleep(0.02)
    runner.greenlet.kill(block=True)
