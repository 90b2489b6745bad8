"""Request and write counters for GET /metrics (Prometheus text), summed over worker processes.

Each process counts in memory and publishes a snapshot to `<metrics_dir>/<pid>.json` at most
once a second (and whenever it answers /metrics), replaced atomically; /metrics sums every
snapshot. `harness serve` empties the folder before its workers start, so totals cover one
server run. A snapshot may lag its process by up to a second.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import falcon

FLUSH_INTERVAL_S = 1.0
OTHER = "other"
"""The label of every method outside RFC 9110's and of every path no route matched, so a
client inventing methods or paths cannot add series (each one costs Prometheus memory)."""
KNOWN_METHODS = frozenset(falcon.constants.HTTP_METHODS)


class Metrics:
    """This process's counters, and the sum over every process that shares `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._requests: dict[str, int] = {}
        self._latency_sum_s: dict[str, float] = {}
        self._latency_count: dict[str, int] = {}
        self._writes: dict[str, int] = {}
        self._flushed_at = 0.0
        self._pid = os.getpid()

    def observe(self, method: str, route: str, status: str, latency_s: float) -> None:
        """Count one answered request."""
        request_key = f"{method} {route} {status}"
        latency_key = f"{method} {route}"
        with self._lock:
            self._requests[request_key] = self._requests.get(request_key, 0) + 1
            self._latency_sum_s[latency_key] = self._latency_sum_s.get(latency_key, 0.0) + latency_s
            self._latency_count[latency_key] = self._latency_count.get(latency_key, 0) + 1
            due = time.monotonic() - self._flushed_at >= FLUSH_INTERVAL_S
        if due:
            self.flush()

    def count_write(self, op: str, *, replayed: bool) -> None:
        """Count one answered write (a replay is counted apart from a real write)."""
        key = f"{op}_replayed" if replayed else op
        with self._lock:
            self._writes[key] = self._writes.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """This process's counters as JSON-ready data."""
        with self._lock:
            return {
                "requests": dict(self._requests),
                "latency_sum_s": dict(self._latency_sum_s),
                "latency_count": dict(self._latency_count),
                "writes": dict(self._writes),
            }

    def flush(self) -> None:
        """Publish this process's snapshot for the other processes' /metrics."""
        if os.getpid() != self._pid:  # a forked copy must not overwrite its parent's file
            self._pid = os.getpid()
            with self._lock:
                self._requests, self._latency_sum_s, self._latency_count = {}, {}, {}
                self._writes = {}
        self._flushed_at = time.monotonic()
        snapshot = self.snapshot()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.directory / f"{self._pid}.json"
            temp = self.directory / f".{self._pid}.json.tmp"
            temp.write_text(json.dumps(snapshot))
            os.replace(temp, target)
        except OSError:
            pass  # counters are best effort: a full disk must not fail requests

    def totals(self) -> tuple[dict[str, Any], int]:
        """The sum of every published snapshot (this process's first), and how many."""
        self.flush()
        snapshots: list[Mapping[str, Any]] = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                snapshots.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        total: dict[str, Any] = {}
        for name in ("requests", "latency_sum_s", "latency_count", "writes"):
            merged: dict[str, float] = {}
            for snap in snapshots:
                for key, value in snap.get(name, {}).items():
                    merged[key] = merged.get(key, 0) + value
            total[name] = merged
        return total, len(snapshots)


class MetricsMiddleware:
    """Falcon middleware, first in the list: times every request, whoever answers it."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Note when the request arrived."""
        req.context.started_at = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Count the request by route template, method and status."""
        started = getattr(req.context, "started_at", None)
        latency_s = 0.0 if started is None else time.perf_counter() - started
        method = req.method if req.method in KNOWN_METHODS else OTHER
        route = req.uri_template or OTHER
        self.metrics.observe(method, route, str(resp.status_code), latency_s)


def _label(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _metric_name(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").lower()


def render_prometheus(
    totals: Mapping[str, Any],
    processes: int,
    *,
    last_seq: int | None,
    cdn_stats: Mapping[str, Any] | None = None,
    auth_stats: Mapping[str, Any] | None = None,
) -> str:
    """Prometheus text exposition (version 0.0.4) of the summed counters."""
    lines = _http_lines(totals)
    writes = sorted(totals["writes"].items())
    _family(
        lines,
        "harness_writes_total",
        "counter",
        "Writes answered, by operation (replays of a seen Idempotency-Key apart).",
        [
            (_labels((op.removesuffix("_replayed"), _bool(op.endswith("_replayed"))), _WRITE), n)
            for op, n in writes
        ],
    )
    if last_seq is not None:
        _family(lines, "harness_write_seq_last", "gauge", "Highest write seq.", [("", last_seq)])
    up = [("", last_seq is not None)]
    _family(lines, "harness_storage_up", "gauge", "1 when storage answered.", up)
    published = [("", processes)]
    _family(lines, "harness_processes", "gauge", "Processes that published counters.", published)
    for prefix, stats in (("harness_cdn", cdn_stats), ("harness_auth", auth_stats)):
        for key, value in _flatten(stats or {}):
            name = f"{prefix}_{_metric_name(key)}"
            _family(lines, name, "gauge", f"{prefix[8:]} {key}.", [("", value)])
    return "\n".join(lines) + "\n"


_REQUEST = ("method", "route", "status")
_LATENCY = ("method", "route")
_WRITE = ("op", "replayed")


def _http_lines(totals: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    requests = [
        (_labels(key.split(" ", 2), _REQUEST), n) for key, n in sorted(totals["requests"].items())
    ]
    _family(
        lines,
        "harness_http_requests_total",
        "counter",
        "Requests answered, by method, route template and status.",
        requests,
    )
    sums, counts = totals["latency_sum_s"], totals["latency_count"]
    name = "harness_http_request_duration_seconds"
    lines.append(f"# HELP {name} Time to answer, in the app.")
    lines.append(f"# TYPE {name} summary")
    for key in sorted(counts):
        labels = _labels(key.split(" ", 1), _LATENCY)
        lines.append(f"{name}_sum{labels} {_number(sums[key])}")
        lines.append(f"{name}_count{labels} {counts[key]}")
    return lines


def _family(
    lines: list[str], name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)


def _labels(values: Iterable[str], names: tuple[str, ...]) -> str:
    pairs = zip(names, values, strict=True)
    return "{" + ",".join(f"{name}={_label(value)}" for name, value in pairs) + "}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _flatten(stats: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, float]]:
    for key, value in sorted(stats.items()):
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}_")
        elif isinstance(value, bool | int | float):
            yield name, value


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def remove_dead_snapshots(directory: Path) -> int:
    """Delete snapshots of processes that no longer run (from earlier servers); how many."""
    removed = 0
    for path in directory.glob("*.json"):
        try:
            pid = int(path.stem)
        except ValueError:
            continue
        if not _alive(pid):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
