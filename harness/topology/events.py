"""Forwarding the events that the router and replicator processes write to their files.

Those processes append JSON lines (`router/router-events.jsonl`, `replication-events.jsonl`);
`EventTail` reads what is new every `interval_s` and hands each record to the deployment's
event sink, tagged with `source`, keeping the time (`t`) at which it happened.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class EventTail:
    """Follows several JSON-lines files from their current end; a background thread."""

    def __init__(
        self, files: Mapping[str, Path], emit: Callable[..., None], interval_s: float = 0.1
    ) -> None:
        self.files = dict(files)
        self.emit = emit
        self.interval_s = interval_s
        self._offsets = {source: _size(path) for source, path in self.files.items()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start following (events written before construction are not forwarded)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="event-tail", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Forward what is left, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.poll()

    def poll(self) -> int:
        """Forward every complete new line now; returns how many were forwarded."""
        count = 0
        for source, path in self.files.items():
            for record in self._read_new(source, path):
                kind = str(record.pop("kind", "unknown"))
                self.emit(kind, source=source, **record)
                count += 1
        return count

    def _read_new(self, source: str, path: Path) -> list[dict[str, Any]]:
        size = _size(path)
        offset = self._offsets.get(source, 0)
        if size < offset:  # the file was replaced: start over
            offset = 0
        if size == offset:
            return []
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(size - offset)
        complete = data.rfind(b"\n") + 1  # a torn last line waits for the next poll
        self._offsets[source] = offset + complete
        records = []
        for line in data[:complete].splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
