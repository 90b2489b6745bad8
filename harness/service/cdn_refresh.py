"""Background revalidation for the edge cache's stale-while-revalidate.

When the edge serves a stale html entry it queues a `RefreshJob`: a copy of the request
(environment, context with the caller's auth, options) and the resource that answers it.
One daemon thread per process runs the resource's `on_<method>` responder with that copy,
outside any client's request, and hands the fresh response back to the cache. At most one
refresh per cache key is in flight; a responder that fails leaves the stale entry in place
until its window ends.
"""

from __future__ import annotations

import copy
import io
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import falcon

from harness.service.rbac import Route

log = logging.getLogger(__name__)

MAX_PENDING = 256
"""Refreshes queued at once; more are dropped (the entry just stays stale a little longer)."""


@dataclass(frozen=True, slots=True)
class RefreshJob:
    """Everything needed to ask the origin again for `key`, away from the client."""

    key: str
    route: Route
    dep_slot: int
    dep_generation: int
    purge_generation: int
    resource: object
    params: dict[str, Any]
    env: dict[str, Any]
    context: Any
    req_options: falcon.RequestOptions
    resp_options: falcon.ResponseOptions

    @classmethod
    def capture(
        cls,
        req: falcon.Request,
        resp: falcon.Response,
        resource: object,
        params: dict[str, Any],
        route: Route,
        key: str,
        dep: tuple[int, int, int],
    ) -> RefreshJob:
        """Copy what the refresh needs from the live request; `dep` is
        (dep_slot, dep_generation, purge_generation) as seen by that request."""
        env = dict(req.env)
        env["wsgi.input"] = io.BytesIO(b"")
        env["CONTENT_LENGTH"] = "0"
        return cls(
            key=key,
            route=route,
            dep_slot=dep[0],
            dep_generation=dep[1],
            purge_generation=dep[2],
            resource=resource,
            params=dict(params),
            env=env,
            context=copy.copy(req.context),
            req_options=req.options,
            resp_options=resp.options,
        )

    def run(self) -> falcon.Response:
        """Call the resource's responder on a copy of the request; raises what it raises."""
        responder = getattr(self.resource, f"on_{self.route.method.lower()}", None)
        if responder is None:
            raise LookupError(f"{type(self.resource).__name__} has no responder to refresh with")
        req = falcon.Request(self.env, options=self.req_options)
        req.context = copy.copy(self.context)
        req.uri_template = self.route.template
        resp = falcon.Response(options=self.resp_options)
        responder(req, resp, **self.params)
        return resp


class Refresher:
    """One background thread per process running RefreshJobs, one per key at a time.

    `finish(job, resp)` receives the origin's response, or None when the responder raised.
    The thread starts on first use, so a process created by fork starts its own.
    """

    def __init__(self, finish: Callable[[RefreshJob, falcon.Response | None], None]) -> None:
        self._finish = finish
        self._queue: queue.Queue[RefreshJob] = queue.Queue(MAX_PENDING)
        self._in_flight: set[str] = set()
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, job: RefreshJob) -> bool:
        """Queue `job` unless its key is already being refreshed; True if queued."""
        with self._idle:
            if job.key in self._in_flight:
                return False
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                return False
            self._in_flight.add(job.key)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="edge-cache-refresh", daemon=True
                )
                self._thread.start()
        return True

    def drain(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or running; False if `timeout_s` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            resp: falcon.Response | None
            try:
                resp = job.run()
            except Exception as exc:  # an origin failure: the stale entry stays, loudly
                log.warning("edge cache: refreshing %s failed: %r", job.key, exc)
                resp = None
            try:
                self._finish(job, resp)
            except Exception:
                log.exception("edge cache: storing the refresh of %s failed", job.key)
            finally:
                with self._idle:
                    self._in_flight.discard(job.key)
                    self._idle.notify_all()
