"""summary.json from synthetic run directories, checked against the raw samples."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.analysis import summary as analysis_summary
from harness.analysis.hdrblob import bucket_indexes, new_counts, percentiles_from_counts
from harness.analysis.summary import measure
from harness.errors import ConfigError
from harness.rundir import read_json
from harness.testing import SyntheticRun, make_run_dir


def summarize(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """summary.json's document: these tests check the file format field by field."""
    return analysis_summary.summarize(*args, **kwargs).to_dict()


def write_summary(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """write_summary, returning what it wrote as the JSON document."""
    return analysis_summary.write_summary(*args, **kwargs).to_dict()


PCTS = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9}
QUANTILES = {50.0: 0.5, 95.0: 0.95, 99.0: 0.99, 99.9: 0.999}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SyntheticRun:
    return make_run_dir(
        tmp_path_factory.mktemp("runs") / "main",
        duration_s=40,
        rate_per_s=150.0,
        failure_windows=[(10, 14, 0.4)],
        slow_windows=[(20, 23, 8.0)],
        late_fraction=0.2,
        workers=3,
        lost_workers=1,
    )


@pytest.fixture(scope="module")
def summary(run: SyntheticRun) -> dict[str, Any]:
    return summarize(run.path)


def hdr_reference_us(samples: np.ndarray, pct: float) -> int:
    """The sample HdrHistogram's percentile lands on: rank round-half-up(p/100 * n)."""
    ordered = np.sort(samples)
    rank = max(int(pct * len(ordered) / 100 + 0.5), 1)
    return int(ordered[min(rank, len(ordered)) - 1])


def assert_latency_matches(latency_ms: dict[str, float], samples_us: np.ndarray) -> None:
    for key, pct in PCTS.items():
        exact_us = hdr_reference_us(samples_us, pct)
        got_us = latency_ms[key] * 1000
        # the bucket's highest equivalent value: never below the sample, within 3 digits
        assert exact_us <= got_us <= exact_us * (1 + 2**-10), (key, got_us, exact_us)
    assert latency_ms["mean"] == pytest.approx(samples_us.mean() / 1000, rel=1e-3)
    assert samples_us.max() <= latency_ms["max"] * 1000 <= samples_us.max() * (1 + 2**-10)
    assert samples_us.min() * (1 - 2**-10) <= latency_ms["min"] * 1000 <= samples_us.min()


def test_percentiles_match_the_raw_samples(run: SyntheticRun, summary: dict[str, Any]) -> None:
    assert_latency_matches(summary["totals"]["latency_ms"], run.ok_us())
    for name in run.names:
        assert_latency_matches(summary["endpoints"][name]["latency_ms"], run.ok_us(name))
    corrected = run.corrected()
    assert corrected is not None
    assert_latency_matches(summary["totals"]["latency_corrected_ms"], corrected)
    assert (
        summary["totals"]["latency_corrected_ms"]["p99.9"]
        > (summary["totals"]["latency_ms"]["p99.9"])
    )


def test_hdr_percentiles_equal_numpy_inverted_cdf_when_the_rank_is_whole() -> None:
    """With n a multiple of 1000, p/100*n is whole for every reported percentile: numpy's
    inverted_cdf then picks the same sample hdr does (docs/thresholds.md). np.quantile with
    q written as a literal (0.999), because 99.9/100 is a hair above 0.999 in floating point
    and would make numpy take the next rank."""
    samples = np.random.default_rng(5).lognormal(np.log(20_000), 0.7, 20_000).astype(np.int64)
    counts = new_counts()
    np.add.at(counts, bucket_indexes(samples), 1)
    got = percentiles_from_counts(counts, tuple(PCTS.values()))
    for value, pct in zip(got, PCTS.values(), strict=True):
        exact = np.quantile(samples, QUANTILES[pct], method="inverted_cdf")
        assert exact <= value <= exact * (1 + 2**-10)


def test_counts_errors_and_rates(run: SyntheticRun, summary: dict[str, Any]) -> None:
    totals = summary["totals"]
    assert (totals["requests"], totals["failures"]) == (run.requests(), run.failures())
    assert totals["bytes"] == int(run.bytes_.sum())
    assert totals["error_rate"] == pytest.approx(run.failures() / run.requests())
    assert summary["duration_s"] == 40.0
    assert totals["rps"] == pytest.approx(run.requests() / 40.0)
    assert sum(totals["errors"].values()) == run.failures()
    assert set(totals["errors"]) == {"503", "ConnectionRefusedError"}
    for name in run.names:
        endpoint = summary["endpoints"][name]
        assert endpoint["requests"] == run.requests(name)
        assert endpoint["failures"] == run.failures(name)
    assert summary["workers"] == {"count": 3, "lost": 1}
    assert (summary["status"], summary["complete"], summary["verdict"]) == (
        "completed",
        True,
        "pass",
    )
    assert summary["recovery"] is None and summary["thresholds"] == []


def test_schema_keys(summary: dict[str, Any]) -> None:
    assert list(summary)[:12] == [
        "schema",
        "run_id",
        "profile",
        "scenario",
        "status",
        "complete",
        "started_at",
        "ended_at",
        "duration_s",
        "totals",
        "endpoints",
        "workers",
    ]
    assert set(summary) >= {"recovery", "thresholds", "verdict"}
    metrics = summary["totals"]
    assert set(metrics) == {
        "requests",
        "failures",
        "rps",
        "error_rate",
        "bytes",
        "latency_ms",
        "latency_corrected_ms",
        "errors",
        "clipped",
    }
    assert list(metrics["latency_ms"]) == ["p50", "p95", "p99", "p99.9", "max", "mean", "min"]
    json.dumps(summary)  # plain JSON types only


def test_partial_run_is_summarised_and_marked_incomplete(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "cut", duration_s=12, complete=False)
    summary = write_summary(run.path)
    assert summary["status"] == "running" and summary["complete"] is False
    assert summary["ended_at"] is None and summary["duration_s"] == 12.0
    assert summary["totals"]["requests"] == run.requests()
    assert read_json(run.path / "summary.json") == summary


def test_ended_at_missing_means_incomplete(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=3)
    manifest = read_json(run.path / "run.json")
    manifest["ended_at"] = None
    (run.path / "run.json").write_text(json.dumps(manifest))
    assert summarize(run.path)["complete"] is False


def test_failed_run_gets_the_error_verdict(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=3, status="failed")
    summary = summarize(run.path, ["p(95)<10s"])
    assert summary["thresholds"][0]["ok"] and summary["verdict"] == "error"


def test_unpaced_and_empty_runs(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=3, paced_interval_ms=None)
    summary = summarize(run.path, ["cp(99)<1s"])
    assert summary["totals"]["latency_corrected_ms"] is None
    assert summary["thresholds"][0]["message"] == "cp(99) not measured (the load was not paced)"
    (run.path / "intervals.jsonl").write_text("")
    empty = summarize(run.path, ["p(95)<1s"])
    assert empty["totals"]["requests"] == 0 and empty["endpoints"] == {}
    assert empty["duration_s"] == 3.0 and empty["totals"]["latency_ms"]["p95"] is None
    assert empty["verdict"] == "fail"


def test_thresholds_from_every_source(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=5, thresholds=["p(95)<10s", "failures==0"])
    file = tmp_path / "gate.txt"
    file.write_text("requests>1\nGET /api/items: rps>0.5\nGET /nope: p(95)<1s\n")
    summary = summarize(run.path, ["error_rate<1%", "p(95)<10s"], thresholds_file=file)
    results = {t["expr"]: t for t in summary["thresholds"]}
    assert list(results) == [
        "p(95)<10s",
        "failures==0",
        "requests>1",
        "GET /api/items: rps>0.5",
        "GET /nope: p(95)<1s",
        "error_rate<1%",
    ]
    assert results["p(95)<10s"]["source"] == "run.json"
    assert results["GET /nope: p(95)<1s"]["message"] == "no requests named 'GET /nope' in this run"
    assert summary["verdict"] == "fail"
    assert all(t["ok"] for e, t in results.items() if e != "GET /nope: p(95)<1s")


def test_arbitrary_percentiles_come_from_the_histograms(run: SyntheticRun) -> None:
    summary = summarize(run.path, ["p(90)<10s", "p(99.99)<10s"])
    for result, pct in zip(summary["thresholds"], (90.0, 99.99), strict=True):
        exact_ms = hdr_reference_us(run.ok_us(), pct) / 1000
        assert exact_ms <= result["observed"] * 1000 <= exact_ms * (1 + 2**-10)


def test_recovery_comes_from_the_recovery_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("harness.analysis.recovery")
    figures = {"rto_s": 12.5, "ttd_s": None, "rpo_s": 0.0, "lost_writes": 0}
    fake.compute_recovery = lambda run_dir: figures  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "harness.analysis.recovery", fake)
    run = make_run_dir(tmp_path / "s", duration_s=3, kind="scenario", scenario="api-failure")
    summary = summarize(run.path, ["rto<30s", "ttd<5s", "rpo==0", "lost_writes==0"])
    assert summary["recovery"] == figures
    oks = [(t["metric"], t["ok"], t["message"]) for t in summary["thresholds"]]
    assert oks == [
        ("rto", True, "observed 12.5 s < limit 30 s"),
        ("ttd", False, "ttd not measured"),
        ("rpo", True, "observed 0 s == limit 0 s"),
        ("lost_writes", True, "observed 0 == limit 0"),
    ]
    plain = make_run_dir(tmp_path / "p", duration_s=3)
    assert summarize(plain.path, ["rto<30s"])["thresholds"][0]["message"] == "rto not measured"


def test_baseline_comparison_and_relative_thresholds(tmp_path: Path) -> None:
    base = make_run_dir(tmp_path / "base", duration_s=10, seed=1)
    slow = make_run_dir(tmp_path / "slow", duration_s=10, seed=2, latency_ms=(30.0, 0.5))
    summary = summarize(slow.path, ["p(95)<+10%", "rps>-20%"], baseline_dir=base.path)
    p95, rps = summary["thresholds"]
    assert not p95["ok"] and p95["baseline"] == pytest.approx(
        summarize(base.path)["totals"]["latency_ms"]["p95"]
    )
    assert rps["ok"]
    assert summary["baseline"]["totals"]["p95"]["regression"] is True
    assert summary["baseline"]["run_id"] == "base"
    with pytest.raises(ConfigError, match="needs a baseline run"):
        summarize(slow.path, ["p(95)<+10%"])
    with pytest.raises(ConfigError, match="not a run directory"):
        summarize(slow.path, baseline_dir=tmp_path / "nowhere")


def test_baseline_with_only_a_summary(tmp_path: Path) -> None:
    base = make_run_dir(tmp_path / "base", duration_s=5, seed=1)
    write_summary(base.path)
    (base.path / "intervals.jsonl").unlink()
    run = make_run_dir(tmp_path / "run", duration_s=5, seed=2)
    summary = summarize(run.path, ["p(99)<+50%", "p(90)<+50%"], baseline_dir=base.path)
    assert summary["thresholds"][0]["ok"]
    assert summary["thresholds"][1]["message"] == "baseline: p(90) not in the stored summary"


def test_bad_run_directories(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        measure(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"not a run directory \(no run.json\)"):
        measure(tmp_path)
    run = make_run_dir(tmp_path / "r", duration_s=2)
    line = json.loads((run.path / "intervals.jsonl").read_text().splitlines()[0])
    line["hdr"] = "SElTVEZBQUFBQ"
    with (run.path / "intervals.jsonl").open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    with pytest.raises(ConfigError, match=r"intervals\.jsonl.*undecodable histogram"):
        measure(run.path)
    (run.path / "run.json").write_text("{")
    with pytest.raises(ConfigError, match=r"unreadable run\.json"):
        measure(run.path)


def test_scenario_runs_carry_the_recovery_figures(tmp_path: Path) -> None:
    run = make_run_dir(
        tmp_path / "scenario",
        duration_s=30,
        kind="scenario",
        scenario="api-failure",
        faults=[(10, 15, "kill")],
        failure_windows=[(10, 15, 0.9)],
    )
    summary = summarize(run.path, ["rto<30s"])
    assert isinstance(summary["recovery"], dict) and "rto_s" in summary["recovery"]
    (rto,) = summary["thresholds"]
    if summary["recovery"]["rto_s"] is None:
        assert rto["message"] == "rto not measured"
    else:
        assert rto["observed"] == pytest.approx(summary["recovery"]["rto_s"])
