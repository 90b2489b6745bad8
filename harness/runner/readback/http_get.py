"""The `http` adapter: one GET per key on a URL template; the status says what became of it.

`url = "/orders/{key}"` is filled from the key and the entry's recorded fields (each value
percent-encoded), relative to the target or absolute. A status in `present` keeps the key,
one in `absent` loses it; a 5xx, a 429, a timeout or no answer is tried again every 0.5 s
until the read-back's deadline, then the key is **unknown**, as is one answered with a status
in neither list. `concurrency` greenlets work through the keys, each on its own keep-alive
connection (Nagle off), so 10,000 keys do not open 10,000 connections.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import gevent
import gevent.pool
import gevent.queue

from harness.runner import http as runner_http
from harness.runner.readback.core import Checked, Entries
from harness.runner.readback.spec import HttpSpec

RETRY_EVERY_S = 0.5
RETRYABLE = frozenset({429})

Result = tuple[int | None, str | None]
"""(status, the answer's first bytes) for an answer, (None, why) for none."""


@dataclass
class HttpAdapter:
    """Checks keys with GETs (see the module docstring)."""

    spec: HttpSpec
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_every_s: float = RETRY_EVERY_S
    name: str = "http"

    def check(self, entries: Entries, deadline: float) -> Checked:
        """Present and unknown keys; the rest answered `absent` (lost)."""
        out = Checked()
        urls: dict[str, str] = {}
        for key, entry in entries.items():
            missing = [name for name in self.spec.fields if name not in entry]
            if missing:
                out.unknown[key] = f"the url template names {missing[0]!r}, not recorded"
            else:
                urls[key] = self.url_for(key, entry)
        pending = list(urls)
        while pending:
            results = self._round(pending, urls, deadline)
            retry = []
            for key in pending:
                status, why = results.get(key, (None, "not checked before the read-back deadline"))
                if status in self.spec.present:
                    out.present[key] = None
                elif status in self.spec.absent:
                    continue
                elif status is None or status >= 500 or status in RETRYABLE:
                    out.unknown[key] = f"status {status}" if status is not None else str(why)
                    retry.append(key)
                else:
                    out.unknown[key] = f"status {status} (neither present nor absent): {why}"
            if not retry or time.monotonic() + self.retry_every_s > deadline:
                break
            gevent.sleep(self.retry_every_s)
            for key in retry:
                del out.unknown[key]
            pending = retry
        return out

    def url_for(self, key: str, entry: Mapping[str, Any]) -> str:
        """The template filled from the key and the entry, resolved against the target."""
        values = {name: quote(str(entry[name]), safe="") for name in self.spec.fields}
        values["key"] = quote(key, safe="")
        return runner_http.resolve(self.base_url, self.spec.url.format_map(values))

    def _round(self, keys: Sequence[str], urls: Mapping[str, str], deadline: float
               ) -> dict[str, Result]:  # fmt: skip
        queue: gevent.queue.Queue[str] = gevent.queue.Queue()
        for key in keys:
            queue.put(key)
        results: dict[str, Result] = {}
        workers = min(self.spec.concurrency, len(keys))
        pool = gevent.pool.Pool(workers)
        for _ in range(workers):
            pool.spawn(self._work, queue, urls, results, deadline)
        pool.join()
        return results

    def _work(self, queue: gevent.queue.Queue[str], urls: Mapping[str, str],
              results: dict[str, Result], deadline: float) -> None:  # fmt: skip
        client = _KeepAlive(self.spec.timeout_s, dict(self.headers))
        try:
            while time.monotonic() < deadline:
                try:
                    key = queue.get_nowait()
                except gevent.queue.Empty:
                    return
                results[key] = client.get(urls[key])
        finally:
            client.close()


class _KeepAlive:
    """One connection per host, reopened after an error; GET only."""

    def __init__(self, timeout_s: float, headers: dict[str, str]) -> None:
        self.timeout_s = timeout_s
        self.headers = headers
        self.conns: dict[tuple[str, str, int | None], http.client.HTTPConnection] = {}

    def get(self, url: str) -> Result:
        parts = urlsplit(url)
        where = (parts.scheme, parts.hostname or "127.0.0.1", parts.port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = self.conns.get(where)
        try:
            if conn is None:
                conn = self._open(*where)
                self.conns[where] = conn
            conn.request("GET", path, headers=self.headers)
            response = conn.getresponse()
            body = response.read()
            if response.will_close:
                self._drop(where)
            return response.status, body[:80].decode("utf-8", errors="replace").strip()
        except (OSError, http.client.HTTPException) as exc:
            self._drop(where)
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            return None, f"{type(exc).__name__}: {reason}"

    def _open(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = cls(host, port, timeout=self.timeout_s)
        conn.connect()
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _drop(self, where: tuple[str, str, int | None]) -> None:
        conn = self.conns.pop(where, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for where in list(self.conns):
            self._drop(where)
