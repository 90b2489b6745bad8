"""A real Prometheus scrapes a short run's `--metrics-bind`; its queries agree with the report.

Debian's prometheus 2.42 (`/usr/bin/prometheus`, installed by .ci/run) runs on loopback with
a 500 ms scrape interval and its data in the test's directory. One `harness run` (light, 8 s,
one local worker) serves its metrics; afterwards the test asks Prometheus, through its HTTP
query API, for the request counter and the 95th percentile and compares them with
summary.json, then runs every query of the shipped Grafana dashboard.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.load.metrics import LATENCY_BUCKETS_S

PROMETHEUS = "/usr/bin/prometheus"
DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "harness-dashboard.json"
RUN_TIMEOUT_S = 120.0
SCRAPE_INTERVAL = "500ms"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class Prometheus:
    """A Prometheus server on loopback scraping one target."""

    def __init__(self, directory: Path, target: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = directory / "prometheus.yml"
        config.write_text(
            "global:\n"
            f"  scrape_interval: {SCRAPE_INTERVAL}\n"
            "  scrape_timeout: 400ms\n"
            "scrape_configs:\n"
            "  - job_name: harness\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.log = (directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"prometheus did not start: {(directory / 'prometheus.log')}")
                time.sleep(0.2)

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
        answer = _get(f"{self.url}/api/v1/query?{params}")
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode(
            {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1"}
        )
        answer = _get(f"{self.url}/api/v1/query_range?{params}")
        assert answer["status"] == "success", (expr, answer)
        return list(answer["data"]["result"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def prometheus_binary() -> str:
    if shutil.which(PROMETHEUS) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{PROMETHEUS} is required in CI (.ci/run installs Debian's prometheus)")
        pytest.skip(f"needs {PROMETHEUS} (Debian's prometheus package)")
    return PROMETHEUS


@pytest.fixture
def scraped_run(prometheus_binary: str, tmp_path: Path) -> Iterator[tuple[Prometheus, Path]]:
    metrics_port = _free_port()
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{metrics_port}")
    run_dir = tmp_path / "run"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "run", "--profile", "light", "--duration", "8s",
             "--workers", "1", "--metrics-bind", f"127.0.0.1:{metrics_port}",
             "--out", str(run_dir)],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield prometheus, run_dir
    finally:
        prometheus.stop()


def _bucket_of(value_s: float) -> tuple[float, float]:
    """The (lower, upper] latency bucket holding `value_s`."""
    lower = 0.0
    for upper in (*LATENCY_BUCKETS_S, float("inf")):
        if value_s <= upper:
            return lower, upper
        lower = upper
    raise AssertionError("unreachable")


def test_prometheus_agrees_with_the_summary(scraped_run: tuple[Prometheus, Path]) -> None:
    prometheus, run_dir = scraped_run
    summary = json.loads((run_dir / "summary.json").read_text())
    manifest = json.loads((run_dir / "run.json").read_text())
    start, end = float(manifest["started_at"]), float(manifest["ended_at"])
    at = end + 1.0
    window = f"{int(at - start) + 5}s"
    total = summary["totals"]["requests"]
    assert total > 100

    last = prometheus.query(f"sum(max_over_time(harness_requests_total[{window}]))", at)
    assert float(last[0]["value"][1]) == total  # the final figures were scraped
    increase = prometheus.query(f"sum(increase(harness_requests_total[{window}]))", at)
    # increase() cannot see what a name counted before its first scrape (a counter's first
    # sample is its baseline), and extrapolates at both ends by up to half a scrape interval
    # of rate: so it agrees with the summary once the first samples are added back.
    first = prometheus.query(f"sum(min_over_time(harness_requests_total[{window}]))", at)
    seen_before_first_scrape = float(first[0]["value"][1])
    assert total - seen_before_first_scrape - 0.15 * total <= float(increase[0]["value"][1])
    assert float(increase[0]["value"][1]) <= total * 1.15

    # The buckets' last values hold every request of the run, as the summary does (an
    # increase() would leave out what each series counted before its first scrape, and
    # extrapolate each by its own ratio: another distribution than the summary's).
    p95 = prometheus.query(
        "histogram_quantile(0.95, sum by (le) "
        f"(max_over_time(harness_request_duration_seconds_bucket[{window}])))",
        at,
    )
    p95_s = float(p95[0]["value"][1])
    # Prometheus interpolates inside the bucket where the 95th rank falls, and an HDR bucket
    # straddling a bucket's edge is counted on one side, so the buckets of P95 +-10% are the
    # resolution this can be checked to.
    summary_p95_s = summary["totals"]["latency_ms"]["p95"] / 1000
    lower, upper = _bucket_of(summary_p95_s * 0.9)[0], _bucket_of(summary_p95_s * 1.1)[1]
    assert lower <= p95_s <= upper, (p95_s, summary_p95_s)

    for kind, needle in (("harness_workers", "connected"), ("harness_stage", "steady")):
        seen = prometheus.query_range(kind, start, end)
        assert any(needle in json.dumps(series["metric"]) for series in seen), kind
    _check_dashboard(prometheus, start, at)


def _check_dashboard(prometheus: Prometheus, start: float, end: float) -> None:
    """Every panel query of the Grafana dashboard returns data, without an error."""
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {"$__rate_interval": "5s", '=~"$name"': '=~".*"'}
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(queries) >= 10
    for expr in queries:
        for variable, value in variables.items():
            expr = expr.replace(variable, value)
        assert not re.search(r"\$\w", expr), expr  # every variable substituted
        result = prometheus.query_range(expr, start, end)
        assert result and any(series["values"] for series in result), expr
