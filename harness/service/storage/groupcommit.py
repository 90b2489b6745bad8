"""Group commit: writers that arrive while a commit is under way share the next one.

Both backends use it. The first waiting caller runs every pending work in one transaction,
each in its own SAVEPOINT, so one durable commit (one fsync, one lock hand-over)
acknowledges them all and a failing work rolls back only its own changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from harness.service.storage.backend import Connection
from harness.service.storage.errors import StorageUnavailable

T = TypeVar("T")

Unavailable = Callable[[BaseException], StorageUnavailable | None]
"""Maps an exception to the StorageUnavailable it means, or None for any other error."""


class _Job(Generic[T]):
    """One caller's work in a group commit, and what came of it."""

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.finished = False
        self._result: T | None = None
        self._error: BaseException | None = None

    def run_in_savepoint(self, conn: Connection, unavailable: Unavailable) -> None:
        """Run the work; if it raises, roll back only its own changes, unless the storage
        itself failed (then the whole transaction must go, so that is raised)."""
        conn.execute("SAVEPOINT job")
        try:
            self._result = self.work(conn)
        except Exception as exc:
            if unavailable(exc) is not None:
                raise
            conn.execute("ROLLBACK TO SAVEPOINT job")
            self._error = exc
        conn.execute("RELEASE SAVEPOINT job")

    def fail(self, exc: BaseException) -> None:
        """The transaction did not commit: this work's result does not count."""
        self._result = None
        # Each waiting thread raises its own instance: one exception object raised in
        # several threads at once would collect their tracebacks into one.
        self._error = (
            StorageUnavailable(str(exc), exc.code) if isinstance(exc, StorageUnavailable) else exc
        )

    def outcome(self) -> T:
        """The work's result, or its exception raised."""
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


class GroupCommit:
    """Batches concurrent `run(work)` calls of one process into shared transactions.

    `writing` opens one write transaction (commits on success, rolls back on error);
    `unavailable` tells a storage failure (abort everything) from a work's own error.
    """

    def __init__(
        self,
        writing: Callable[[], AbstractContextManager[Connection]],
        unavailable: Unavailable,
    ) -> None:
        self._writing = writing
        self._unavailable = unavailable
        self._batch = threading.Condition(threading.Lock())
        self._pending: list[_Job[Any]] = []
        self._leading = False

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction and return its result once it is durable.

        A storage error aborts the whole transaction, and every caller in it gets
        StorageUnavailable.
        """
        job: _Job[T] = _Job(work)
        with self._batch:
            self._pending.append(job)
            while not job.finished and self._leading:
                self._batch.wait()
            if not job.finished:
                self._leading = True
                batch, self._pending = self._pending, []
        if not job.finished:
            try:
                self._commit_batch(batch)
            finally:
                with self._batch:
                    self._leading = False
                    self._batch.notify_all()
        return job.outcome()

    def _commit_batch(self, batch: list[_Job[Any]]) -> None:
        try:
            with self._writing() as conn:
                for job in batch:
                    job.run_in_savepoint(conn, self._unavailable)
        except BaseException as exc:
            for job in batch:
                job.fail(exc)  # nothing in this transaction was committed
            if not isinstance(exc, Exception):
                raise
        finally:
            for job in batch:
                job.finished = True
