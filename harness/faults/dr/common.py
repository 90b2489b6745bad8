"""What the disaster-recovery faults and runbook actions share: the deployment, its files,
loopback HTTP, waiting on conditions, and probing the primary database.

`PRIMARY_LOCK` serializes every access this process makes to the primary's files. Closing
*any* descriptor of a file drops every POSIX lock the process holds on it, SQLite's included
(docs/topology.md), so a raw `os.open`/`os.close` on `items.db` must never overlap a SQLite
connection to it opened by another thread of the same process.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.faults.base import FaultContext, FaultError
from harness.service import replication

PRIMARY_LOCK = threading.RLock()
"""Held while this process touches the primary database's files (see the module docstring)."""


def require_deployment(ctx: FaultContext, what: str) -> Any:
    """The reference deployment in `ctx`, or FaultError: the DR faults need one."""
    if ctx.deployment is None:
        raise FaultError(what, 'needs the reference deployment (target = "deployment")')
    return ctx.deployment


def primary_path(deployment: Any) -> Path:
    """The primary database file of a deployment."""
    return Path(deployment.data_dir) / replication.PRIMARY


def target_url(ctx: FaultContext, what: str) -> str:
    """The URL clients use (the router's), checked to be on loopback."""
    url = ctx.target_url or getattr(ctx.deployment, "url", None)
    if not url:
        raise FaultError(what, "no target URL")
    ensure_loopback(url, what)
    return str(url).rstrip("/")


def ensure_loopback(url: str, what: str) -> None:
    """FaultError unless `url` names a loopback host (127.0.0.0/8, ::1, localhost)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise FaultError(what, f"refusing to send requests to {host!r}: loopback addresses only")


@dataclass(frozen=True)
class HttpAnswer:
    """One request's outcome: status (None when no answer came), body, error, latency."""

    status: int | None
    body: bytes
    error: str | None
    latency_ms: float


def http_request(
    url: str,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float = 2.0,
) -> HttpAnswer:
    """One HTTP/1.1 request on a fresh connection with Nagle off; never raises."""
    parts = urlsplit(url)
    started = time.monotonic()
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s
    )
    try:
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        return HttpAnswer(response.status, data, None, _ms_since(started))
    except (OSError, http.client.HTTPException) as exc:
        return HttpAnswer(None, b"", f"{type(exc).__name__}: {exc}", _ms_since(started))
    finally:
        conn.close()


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000.0, 3)


def wait_until(
    predicate: Callable[[], bool],
    timeout_s: float,
    stop: threading.Event | None = None,
    interval_s: float = 0.05,
) -> bool:
    """Poll `predicate` until true (True), the deadline passes or `stop` is set (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (stop is not None and stop.is_set()):
            return False
        if stop is not None:
            stop.wait(min(interval_s, remaining))
        else:
            time.sleep(min(interval_s, remaining))


def probe_database(path: Path) -> str | None:
    """None when `path` answers like the service's database, else why not (cheap: a few
    pages, no full scan). A destroyed or emptied file fails here; corruption deep inside a
    table needs `integrity_check`."""
    with PRIMARY_LOCK:
        try:
            conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=2.0)
        except sqlite3.Error as exc:
            return f"{type(exc).__name__}: {exc}"
        try:
            conn.execute("PRAGMA schema_version").fetchone()
            conn.execute("SELECT MAX(seq) FROM writes").fetchone()
            conn.execute("SELECT id FROM items ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
    return None


def integrity_problems(path: Path, max_errors: int = 20) -> list[str]:
    """`PRAGMA integrity_check(max_errors)` of a database file: [] when sound."""
    with PRIMARY_LOCK:
        try:
            conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=5.0)
            try:
                rows = conn.execute(f"PRAGMA integrity_check({int(max_errors)})").fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return [f"{type(exc).__name__}: {exc}"]
    messages = [str(row[0]) for row in rows]
    return [] if messages == ["ok"] else messages


def purge_edge_cache(data_dir: Path) -> int:
    """Drop every edge-cache entry in every service process on `data_dir` (what
    `POST /admin/cdn/purge` does); returns the new purge generation."""
    from harness.service.cdn_policy import GENERATION_SLOTS, PURGE_SLOT
    from harness.service.shared_state import SharedGenerations

    generations = SharedGenerations(Path(data_dir) / "cdn" / "generation", GENERATION_SLOTS)
    try:
        return generations.bump(PURGE_SLOT)
    finally:
        generations.close()
