"""Prometheus exposition of a running load, served by the master (`--metrics-bind HOST:PORT`).

`RunMetrics` follows what the master writes: every merged `intervals.jsonl` line (request
and failure counts per name, and the successes' HdrHistogram, added exactly into one
counts array per name) and every event (stage, workers, faults, steady state, rejected
messages). A scrape renders it as Prometheus text through prometheus_client: the latency
histogram's buckets are counted from the merged HDR data, each HDR bucket under the first
`le` at or above its highest value (so `le` is exact to HDR's 3 significant digits).
Values are what the master has merged, about 1–3 s behind the requests (the workers ship
each second once it is over). The metric table is in docs/load.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from harness.errors import ConfigError
from harness.rundir.hdr import BlobDecoder, bucket_bounds_us, new_counts

if TYPE_CHECKING:  # the session imports Locust; this module does not
    from harness.load.journal import RunJournal
    from harness.load.master import MasterSession

LATENCY_BUCKETS_S = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15,
    0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Upper bounds (`le`) of the latency histogram, in seconds; `+Inf` follows."""
LINGER_S = 5.0
"""At the end, how long the server waits for a scrape that sees the final figures."""


def parse_metrics_bind(text: str, where: str = "--metrics-bind") -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:PORT`) into (host, port); ConfigError naming `where`."""
    host, _, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port_text:
        raise ConfigError(f"expected HOST:PORT such as 127.0.0.1:9646, got {text!r}", where)
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"expected a port number, got {port_text!r}", where) from None
    if not 0 <= port < 65536:
        raise ConfigError(f"expected a port in 0..65535, got {port}", where)
    return host, port


@dataclass
class _Name:
    requests: int = 0
    failures: int = 0
    buckets: np.ndarray = field(default_factory=lambda: np.zeros(len(LATENCY_BUCKETS_S) + 1))
    """Successes per latency bucket (not cumulative), the last one above every `le`."""
    sum_s: float = 0.0


@dataclass
class LiveGauges:
    """What the master knows right now, read at each scrape."""

    users: Callable[[], int] = lambda: 0
    workers_connected: Callable[[], int] = lambda: 0
    workers_lost: Callable[[], int] = lambda: 0


class RunMetrics:
    """The figures of one run as Prometheus metrics; fed by the master, read by scrapes."""

    def __init__(self, run_id: str, gauges: LiveGauges | None = None) -> None:
        self.run_id = run_id
        self.gauges = gauges or LiveGauges()
        self._lock = threading.Lock()
        self._names: dict[str, _Name] = {}
        self._decoder = BlobDecoder()
        self._scratch = new_counts()
        self.stage = ""
        self.target_rate_per_s: float | None = None
        self.faults: dict[str, int] = {}
        self.steady_state: bool | None = None
        self.rejected = 0
        self.version = 0  # changes with every line or event observed
        self.scraped_version = -1

    def announce(self, names: Iterable[str]) -> None:
        """Names a worker has just recorded: their series start at 0 before the merged lines
        (a second or two later) count them, so `increase()` sees each name's first requests."""
        with self._lock:
            for name in names:
                if name not in self._names:
                    self._names[name] = _Name()
                    self.version += 1

    def observe_line(self, line: Mapping[str, Any]) -> None:
        """Add one merged intervals.jsonl line."""
        with self._lock:
            name = self._names.get(line["name"])
            if name is None:
                name = self._names[line["name"]] = _Name()
            name.requests += int(line["requests"])
            name.failures += int(line["failures"])
            if line.get("hdr"):
                self._add_histogram(name, line["hdr"])
            self.version += 1

    def _add_histogram(self, name: _Name, blob: str) -> None:
        """Spread one HDR blob's counts over the latency buckets (work ~ its used buckets)."""
        bins, middles_s = _bucket_map()
        self._decoder.add_into(self._scratch, blob)
        used = np.flatnonzero(self._scratch)
        counts = self._scratch[used]
        name.buckets += np.bincount(bins[used], weights=counts, minlength=len(name.buckets))
        name.sum_s += float(np.dot(counts, middles_s[used]))
        self._scratch[used] = 0

    def observe_event(self, event: Mapping[str, Any]) -> None:
        """Follow one events.jsonl event (kinds without a metric are ignored)."""
        kind = event.get("kind")
        with self._lock:
            if kind == "stage":
                self.stage = str(event.get("name") or "")
                rate = event.get("rate_per_s")
                self.target_rate_per_s = float(rate) if rate is not None else None
            elif kind in ("fault_injected", "fault_cleared"):
                self.faults[str(event.get("fault") or "fault")] = int(kind == "fault_injected")
            elif kind == "steady_state":
                self.steady_state = bool(event.get("ok"))
            elif kind == "message_rejected" and "count" not in event:
                self.rejected += 1
            self.version += 1

    def collect(self) -> Iterator[Metric]:
        """The metric families of a scrape."""
        with self._lock:
            yield from self._requests()
            yield self._latency()
            yield from self._state()
            self.scraped_version = self.version

    def _requests(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "harness_requests", "Requests completed, by request name.", labels=["name"]
        )
        failures = CounterMetricFamily(
            "harness_request_failures", "Requests that failed, by request name.", labels=["name"]
        )
        for label, name in sorted(self._names.items()):
            requests.add_metric([label], name.requests)
            failures.add_metric([label], name.failures)
        yield requests
        yield failures

    def _latency(self) -> Metric:
        family = HistogramMetricFamily(
            "harness_request_duration_seconds",
            "Response time of successful requests (merged HdrHistogram data), by request name.",
            labels=["name"],
        )
        bounds = [_le(le) for le in LATENCY_BUCKETS_S] + ["+Inf"]
        for label, name in sorted(self._names.items()):
            cumulative = np.cumsum(name.buckets).astype(np.int64).tolist()
            family.add_metric([label], list(zip(bounds, cumulative, strict=True)), name.sum_s)
        return family

    def _state(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("harness_users", "Users running now.", value=self.gauges.users())
        yield GaugeMetricFamily(
            "harness_target_requests_per_second",
            "Target arrival rate of the current stage (NaN: unpaced).",
            value=float("nan") if self.target_rate_per_s is None else self.target_rate_per_s,
        )
        stage = GaugeMetricFamily("harness_stage", "1 for the current stage.", labels=["stage"])
        if self.stage:
            stage.add_metric([self.stage], 1)
        yield stage
        workers = GaugeMetricFamily("harness_workers", "Workers, by state.", labels=["state"])
        workers.add_metric(["connected"], self.gauges.workers_connected())
        workers.add_metric(["lost"], self.gauges.workers_lost())
        yield workers
        faults = GaugeMetricFamily(
            "harness_fault_active", "1 while a fault is injected, 0 once cleared.", labels=["fault"]
        )
        for fault, active in sorted(self.faults.items()):
            faults.add_metric([fault], active)
        yield faults
        steady = GaugeMetricFamily(
            "harness_steady_state_holding",
            "1 when the last steady-state check held, 0 when it did not (absent before one).",
        )
        if self.steady_state is not None:
            steady.add_metric([], int(self.steady_state))
        yield steady
        yield CounterMetricFamily(
            "harness_messages_rejected",
            "Master/worker messages dropped for failing the cluster check.",
            value=self.rejected,
        )
        info = GaugeMetricFamily("harness_run_info", "The run being measured.", labels=["run_id"])
        info.add_metric([self.run_id], 1)
        yield info


def _le(bound_s: float) -> str:
    return repr(float(bound_s))


@lru_cache(maxsize=1)
def _bucket_map() -> tuple[np.ndarray, np.ndarray]:
    """For each HDR bucket, the latency bucket it counts in (the first `le` at or above its
    highest value); and its middle value in seconds (for `_sum`, as hdrh's mean)."""
    lowest, highest = bucket_bounds_us()
    bounds_us = np.array(LATENCY_BUCKETS_S) * 1e6
    bins = np.searchsorted(bounds_us, highest, side="left")
    middles_s = (lowest + (highest - lowest + 1) // 2).astype(np.float64) / 1e6
    return bins, middles_s


class _Adapter(Collector):
    def __init__(self, metrics: RunMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self.metrics.collect()


class MetricsServer:
    """The HTTP endpoint (`/metrics`, prometheus_client's server) of one run's metrics."""

    def __init__(self, metrics: RunMetrics, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        self.metrics = metrics
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Adapter(metrics))
        try:
            self._server, self._thread = start_http_server(port, host, registry)
        except OSError as exc:
            from harness.errors import RunFailed

            raise RunFailed(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
        self.port = int(self._server.server_port)

    def stop(self) -> None:
        """Give a scraper up to LINGER_S to read the final figures (if one has come), then
        stop serving."""
        deadline = time.monotonic() + LINGER_S
        metrics = self.metrics
        while 0 <= metrics.scraped_version < metrics.version and time.monotonic() < deadline:
            # looked up at each call, not bound at import: in the master, gevent's patched
            # sleep, which lets the server's greenlet answer the scrape being waited for
            time.sleep(0.1)
        self._server.shutdown()
        self._server.server_close()


def serve_run_metrics(
    journal: RunJournal, session: MasterSession, host: str, port: int
) -> MetricsServer:
    """Follow the run's lines and events as Prometheus metrics, served at host:port."""
    metrics = RunMetrics(
        journal.manifest.run_id,
        LiveGauges(
            users=lambda: int(session.runner.user_count),
            workers_connected=lambda: session.live_workers,
            workers_lost=lambda: len(session.lost),
        ),
    )
    session.entry_listeners.append(lambda entries: metrics.announce(e["name"] for e in entries))
    journal.interval_listeners.append(metrics.observe_line)
    journal.event_listeners.append(metrics.observe_event)
    server = MetricsServer(metrics, host, port)
    journal.event("metrics_serving", url=f"http://{host}:{server.port}/metrics")
    return server
