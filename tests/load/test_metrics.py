"""Live metrics: RunMetrics from merged lines and events, rendered as Prometheus text."""

from __future__ import annotations

import urllib.request
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.analysis.histograms import encode, new_histogram, record_us
from harness.errors import ConfigError
from harness.load.metrics import (
    LATENCY_BUCKETS_S,
    LiveGauges,
    MetricsServer,
    RunMetrics,
    _Adapter,
    parse_metrics_bind,
)


def _line(name: str, latencies_us: list[int], failures: int = 0) -> dict[str, Any]:
    hist = new_histogram()
    for value in latencies_us:
        record_us(hist, value)
    return {
        "name": name,
        "requests": len(latencies_us) + failures,
        "failures": failures,
        "hdr": encode(hist) if latencies_us else None,
    }


def _samples(metrics: RunMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Adapter(metrics))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counters_and_latency_buckets_follow_the_merged_lines() -> None:
    rng = np.random.default_rng(7)
    values = [int(v) for v in rng.lognormal(mean=9.5, sigma=1.0, size=3000)]  # ~13 ms median
    metrics = RunMetrics("run-1", LiveGauges(users=lambda: 12, workers_connected=lambda: 2))
    metrics.observe_line(_line("GET /a", values[:1000], failures=3))
    metrics.observe_line(_line("GET /a", values[1000:]))
    metrics.observe_line(_line("POST /b", [], failures=5))
    samples = _samples(metrics)
    name = (("name", "GET /a"),)
    assert samples[("harness_requests_total", name)] == 3003
    assert samples[("harness_request_failures_total", name)] == 3
    assert samples[("harness_request_failures_total", (("name", "POST /b"),))] == 5
    assert samples[("harness_request_duration_seconds_count", name)] == 3000
    for le in LATENCY_BUCKETS_S:
        key = ("harness_request_duration_seconds_bucket", (("le", repr(le)), *name))
        exact = sum(v <= le * 1e6 for v in values)
        # HDR keeps 3 significant digits: only values within 0.1% of `le` may move up
        near = sum(le * 1e6 * 0.999 < v <= le * 1e6 for v in values)
        assert exact - near <= samples[key] <= exact
    mean_s = samples[("harness_request_duration_seconds_sum", name)] / 3000
    assert mean_s == pytest.approx(np.mean(values) / 1e6, rel=0.002)
    assert samples[("harness_users", ())] == 12
    assert samples[("harness_workers", (("state", "connected"),))] == 2


def test_state_follows_the_timeline() -> None:
    metrics = RunMetrics("run-2")
    assert ("harness_steady_state_holding", ()) not in _samples(metrics)
    for event in (
        {"kind": "stage", "name": "steady", "rate_per_s": 50.0},
        {"kind": "fault_injected", "fault": "region_outage"},
        {"kind": "steady_state", "ok": False},
        {"kind": "message_rejected", "reason": "bad MAC"},
    ):
        metrics.observe_event(event)
    samples = _samples(metrics)
    assert samples[("harness_stage", (("stage", "steady"),))] == 1
    assert samples[("harness_target_requests_per_second", ())] == 50.0
    assert samples[("harness_fault_active", (("fault", "region_outage"),))] == 1
    assert samples[("harness_steady_state_holding", ())] == 0
    assert samples[("harness_messages_rejected_total", ())] == 1
    metrics.observe_event({"kind": "fault_cleared", "fault": "region_outage"})
    metrics.observe_event({"kind": "steady_state", "ok": True})
    samples = _samples(metrics)
    assert samples[("harness_fault_active", (("fault", "region_outage"),))] == 0
    assert samples[("harness_steady_state_holding", ())] == 1


def test_served_over_http_and_stopped() -> None:
    metrics = RunMetrics("run-3")
    metrics.observe_line(_line("GET /", [1000, 2000]))
    server = MetricsServer(metrics, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
        assert 'harness_requests_total{name="GET /"} 2.0' in body
        metrics.observe_line(_line("GET /", [3000]))  # a final line, then a scrape sees it
        with urllib.request.urlopen(url, timeout=10) as response:
            assert 'harness_requests_total{name="GET /"} 3.0' in response.read().decode()
    finally:
        server.stop()


@pytest.mark.parametrize("text", ["9646", "host:", ":9646", "h:port", "h:70000"])
def test_bad_metrics_bind(text: str) -> None:
    with pytest.raises(ConfigError, match="--metrics-bind"):
        parse_metrics_bind(text)


def test_metrics_bind_forms() -> None:
    assert parse_metrics_bind("127.0.0.1:9646") == ("127.0.0.1", 9646)
    assert parse_metrics_bind("[::1]:0") == ("::1", 0)


def test_a_name_starts_at_zero_when_a_worker_first_reports_it() -> None:
    metrics = RunMetrics("run-4")
    metrics.announce(["GET /new"])
    samples = _samples(metrics)
    assert samples[("harness_requests_total", (("name", "GET /new"),))] == 0
    assert samples[("harness_request_duration_seconds_count", (("name", "GET /new"),))] == 0
