"""The HTML report of synthetic run directories: order, verdicts, inlined images, escaping."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.report.formatting import fmt_ms, fmt_offset, fmt_share, fmt_value
from harness.report.html import chart_resolution_s, render_report, write_report
from harness.report.suite import write_suite_index
from harness.rundir import read_json, write_json_atomic
from harness.testing import make_run_dir

ORDER = ("verdict", "run", "thresholds", "over-time", "distribution", "endpoints",
         "recovery", "service", "where-time", "workers", "baseline")  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    make_run_dir(
        root / "passing", duration_s=90, rate_per_s=120, seed=1,
        stages=[("warm-up", 30, 10, 60.0), ("steady", 60, 40, 120.0)],
        thresholds=["p(95)<2s", "error_rate<5%"],
    )  # fmt: skip
    make_run_dir(
        root / "failover", duration_s=120, rate_per_s=150, seed=2, kind="scenario",
        scenario="database-failover", faults=[(40, 55, "kill-primary")],
        failure_windows=[(40, 48, 0.9)], slow_windows=[(48, 54, 4.0)], workers=3,
        lost_workers=1, ledger_writes=200, thresholds=["p(95)<10ms", "error_rate<1%", "rto<5s"],
    )  # fmt: skip
    make_run_dir(root / "partial", duration_s=30, rate_per_s=60, complete=False,
                 thresholds=["p(95)<2s"])  # fmt: skip
    make_run_dir(root / "crashed", duration_s=20, rate_per_s=60, status="failed")
    return {p.name: p for p in root.iterdir()}


def _sections(html: str) -> list[str]:
    return re.findall(r'<section id="([a-z-]+)"', html)


def _headline(html: str) -> str:
    match = re.search(r'<div class="headline">([^<]+)</div>', html)
    assert match, "no verdict headline"
    return match.group(1)


def _assert_self_contained(html: str) -> int:
    """Every image is a decodable inline PNG or SVG; nothing is fetched from anywhere."""
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    for src in sources:
        assert src.startswith("data:image/"), src[:60]
        header, payload = src.split(",", 1)
        assert header.endswith(";base64")
        data = base64.b64decode(payload, validate=True)
        assert data.startswith(PNG) or data.lstrip().startswith((b"<svg", b"<?xml"))
    assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//', html, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html, re.I)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    return len(sources)


def test_passing_run(runs: dict[str, Path]) -> None:
    path = write_report(runs["passing"])
    assert path == runs["passing"] / "report.html"
    html = path.read_text(encoding="utf-8")
    assert _headline(html) == "PASS"
    # the synthetic target is the reference service, so its counters have a section
    assert _sections(html) == [s for s in ORDER if s not in ("recovery", "baseline")]
    assert _assert_self_contained(html) == 3  # latency, throughput, distribution
    assert "All 2 thresholds and objectives met." in html
    assert "warm-up · 60/s" not in html  # stage labels are drawn in the chart, not text
    assert not list(runs["passing"].glob(".*.tmp"))
    assert (runs["passing"] / "summary.json").is_file(), "summary computed when absent"


def test_failing_scenario_with_fault_recovery_and_lost_worker(runs: dict[str, Path]) -> None:
    html = write_report(runs["failover"]).read_text(encoding="utf-8")
    assert _headline(html) == "FAIL"
    assert _sections(html) == [s for s in ORDER if s != "baseline"]
    assert _assert_self_contained(html) == 4  # + the 100 ms recovery chart
    verdict = html[html.index('id="verdict"') : html.index('id="run"')]
    assert "p(95)&lt;10ms: observed" in verdict and "limit &lt; 10.0 ms" in verdict
    assert "error_rate&lt;1%: observed" in verdict
    summary = read_json(runs["failover"] / "summary.json")
    rto_s = summary["recovery"]["rto_s"]
    assert rto_s is not None
    assert f"green the recovery (RTO {rto_s:.1f} s)" in html
    recovery = html[html.index('id="recovery"') : html.index('id="service"')]
    assert "RTO (recovery time)" in recovery and "Runbook as executed" in recovery
    assert "fault injected: kill-primary" in recovery
    assert "Lost acknowledged writes" in recovery
    workers = html[html.index('id="workers"') :]
    assert "3 expected · 3 joined · 1 lost" in workers and "LOST" in workers


def test_incomplete_run_renders_marked(runs: dict[str, Path]) -> None:
    html = write_report(runs["partial"]).read_text(encoding="utf-8")
    assert _headline(html) == "INCOMPLETE"
    assert "The run has not finished" in html and "On the data so far: PASS" in html
    assert "not ended (status running)" in html
    assert _assert_self_contained(html) == 3


def test_failed_run_is_an_error(runs: dict[str, Path]) -> None:
    html = write_report(runs["crashed"]).read_text(encoding="utf-8")
    assert _headline(html) == "ERROR"
    assert "synthetic failure" in html


def test_baseline_comparison_flags_regressions(runs: dict[str, Path], tmp_path: Path) -> None:
    html = render_report(runs["failover"], baseline=runs["passing"]).html
    assert _sections(html)[-1] == "baseline"
    section = html[html.index('id="baseline"') :]
    assert "Baseline run <code>passing</code>" in section
    assert re.search(r"[0-9]+ regressions</strong>", section)
    assert re.search(r'<tr class="bad">\s*<td>Error rate</td>', section)
    assert re.search(r'<tr class="bad">\s*<td>GET /api/items</td>', section)
    with pytest.raises(ConfigError, match="--baseline"):
        render_report(runs["failover"], baseline=tmp_path)


def test_user_strings_are_escaped(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=5, rate_per_s=20,
                       names=["GET /<img src=x onerror=alert(1)>"])  # fmt: skip
    manifest = read_json(run.path / "run.json")
    manifest["scenario"] = "<script>alert('x')</script>"
    manifest["argv"] = ["harness", "run", "--host", '"><b>bold</b>']
    write_json_atomic(run.path / "run.json", manifest)
    html = write_report(run.path).read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>bold</b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    _assert_self_contained(html)


def test_service_stats_and_auth_counts(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=6, rate_per_s=50)
    lines = (run.path / "intervals.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["errors"] = {**first["errors"], "401": 7, "403": 3}
    first["failures"] += 10
    first["requests"] += 10
    lines[0] = json.dumps(first)
    (run.path / "intervals.jsonl").write_text("\n".join(lines) + "\n")
    stats = {"cdn": {"hits": 900, "misses": 80, "stale": 20, "bypass": 50},
             "auth": {"unauthorized": 7, "forbidden": 3}}  # fmt: skip
    write_json_atomic(run.path / "service-stats.json", stats)
    html = write_report(run.path).read_text(encoding="utf-8")
    section = html[html.index('id="service"') : html.index('id="workers"')]
    assert "service-stats.json" in section
    assert "92.0%" in section  # (900 + 20) / (900 + 80 + 20)
    assert "401 seen by load users" in section and ">7<" in section


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a run directory"):
        write_report(tmp_path)


def test_command_line(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(runs["passing"])]) == 0
    assert capsys.readouterr().out.strip() == str(runs["passing"] / "report.html")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run directory" in err


def test_suite_index(runs: dict[str, Path], tmp_path: Path) -> None:
    order = [runs["passing"], runs["failover"], runs["partial"], tmp_path / "missing"]
    index = write_suite_index(tmp_path / "suite", order)
    html = index.read_text(encoding="utf-8")
    badges = re.findall(r'<span class="badge [a-z]+">([A-Z]+)</span>', html)
    assert badges == ["PASS", "FAIL", "INCOMPLETE", "ERROR"]
    assert _headline(html) == "ERROR"
    for href in re.findall(r'<a href="([^"#]+)">report</a>', html):
        assert (index.parent / href).resolve().is_file()
    assert "database-failover" in html
    _assert_self_contained(html)


def test_chart_resolution_keeps_long_runs_readable() -> None:
    assert chart_resolution_s(60) == 1
    assert chart_resolution_s(300) == 1
    assert chart_resolution_s(3600) == 10
    assert chart_resolution_s(86_400) == 300


def test_formatting() -> None:
    assert fmt_ms(0.4123) == "0.412 ms"
    assert fmt_ms(12.34) == "12.3 ms"
    assert fmt_ms(1234) == "1.23 s"
    assert fmt_ms(None) == "—"
    assert fmt_share(0.00004) == "<0.01%"
    assert fmt_share(0.0427) == "4.27%"
    assert fmt_offset(73.25) == "+1:13.2"
    assert fmt_value(1.0, "%") == "1.00%"
    assert fmt_value(30, "s") == "30.0 s"


def test_report_imports_no_load_code_and_no_pyplot(runs: dict[str, Path]) -> None:
    code = (
        "import sys; from pathlib import Path; from harness.report.html import render_report;"
        f"render_report(Path({str(runs['passing'])!r}));"
        "bad = [m for m in ('locust', 'gevent', 'matplotlib.pyplot') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_where_the_time_goes_shows_memory_growth_and_cache(tmp_path: Path) -> None:
    from harness.rundir import CachePolicy, CacheRecord, JsonlAppender, MemorySample, TierWindows

    run = tmp_path / "run"
    make_run_dir(run, duration_s=150, rate_per_s=20, seed=4)
    manifest = read_json(run / "run.json")
    t0 = manifest["started_at"]
    memory = JsonlAppender(run / "memory.jsonl")
    for i in range(150):  # a service that leaks 200 KB/s and a flat worker
        memory.append(
            MemorySample(t0 + i, "service 10", "service", 10, 50_000_000 + i * 200_000).to_dict()
        )
        memory.append(MemorySample(t0 + i, "worker w1", "worker", 11, 80_000_000).to_dict())
    memory.close()
    cache = JsonlAppender(run / "cache.jsonl")
    for i in range(60):
        label = "MISS" if i % 10 == 0 else "HIT"
        latency_us = 9000 if label == "MISS" else 1000
        record = CacheRecord(t0 + i, t0 + i + 0.01, "GET /pages/{slug}", "/pages/a", "html",
                             label, 200, latency_us)  # fmt: skip
        cache.append(record.to_dict())
    cache.close()
    tiers = {"html": TierWindows(10.0, 0.0)}
    write_json_atomic(run / "cache-policy.json", CachePolicy(tiers, 1000, 5).to_dict())
    html = write_report(run).read_text(encoding="utf-8")
    verdict = html[: html.index('<section id="run"')]
    assert "memory: service 10 grows steadily" in verdict  # beside the verdict too
    section = html[html.index('<section id="where-time"') :]
    section = section[: section.index("</section>")]
    assert "Memory grows steadily" in section and "service 10 grows steadily: +720 MB/h" in section
    assert "worker w1 grows" not in section
    assert "Top statements" not in section  # no profile.json in this run
    assert "What another TTL would have given" in section and "TTL × 10" in section
    assert "+8.00 ms" in section  # a miss cost 9 ms against 1 ms for a hit
    assert "5 requests went over the record" in section
    # the observed hit ratio (1 miss in 10), in the tier table and beside the replay
    assert section.count("90.0%") >= 2
    _assert_self_contained(html)


def test_where_the_time_goes_says_what_was_not_recorded(runs: dict[str, Path]) -> None:
    html = write_report(runs["partial"]).read_text(encoding="utf-8")
    assert "Process memory was not sampled for this run" in html
    assert "No per-request cache record for this run" in html


def test_where_the_time_goes_shows_top_statements_plans_and_verified_indexes(
    tmp_path: Path,
) -> None:
    from harness.rundir import (
        Plan,
        Profile,
        ProfileSource,
        Recommendation,
        StatementStat,
        write_profile,
    )

    run = tmp_path / "run"
    make_run_dir(run, duration_s=20, rate_per_s=20, seed=5)
    slow = "SELECT id FROM orders WHERE customer = $1 ORDER BY id LIMIT $2"
    pg = ProfileSource(
        "postgresql", "postgresql", 20.0, 400.0,
        (StatementStat(slow, 100, 300.0, 1000, 0.75),
         StatementStat("SELECT $1", 50, 100.0, 50, 0.25)),
        (Plan(slow, ("Limit", "  ->  Seq Scan on orders", "<script>"), ("orders(customer)",)),),
        (Recommendation(slow, "CREATE INDEX orders_customer_idx ON orders (customer)",
                        3.0, 0.05, 1_138_688, 10.0, 14.5),),
    )  # fmt: skip
    indexed = ProfileSource("service", "sqlite", 20.0, 10.0, (
        StatementStat("SELECT * FROM items WHERE id = ?", 10, 10.0, 10, 1.0, "GET /api/items"),
    ), (Plan("SELECT * FROM items WHERE id = ?", ("SEARCH items",)),))  # fmt: skip
    write_profile(run, Profile((indexed, pg)))
    html = write_report(run).read_text(encoding="utf-8")
    section = html[html.index('id="where-statements"') :]
    section = section[: section.index("</section>")]
    assert "Reference service" in section and "GET /api/items" in section
    assert "No recommendation" in section  # the service's statements are all indexed
    assert "pg_stat_statements" in section and "WHERE customer = $1" in section
    assert "300 ms" in section and "75.0%" in section and "3.00 ms" in section
    assert "CREATE INDEX orders_customer_idx ON orders (customer)" in section
    assert "60.0×" in section and "1.1 MB" in section and "+4.5 µs" in section
    assert "Seq Scan on orders" in section and "&lt;script&gt;" in section
