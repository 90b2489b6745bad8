"""Time series from intervals.jsonl: exact merges per bucket, 100 ms counts, torn and late lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import histograms
from harness.analysis.timeseries import (
    CountsDecoder,
    fine_counts_from,
    latency_distribution,
    load_fine_counts,
    load_timeseries,
    read_intervals,
    timeseries_from,
)
from harness.rundir import iter_jsonl
from harness.testing import SyntheticRun, make_run_dir

PCTS = ((50.0, "p50_ms"), (95.0, "p95_ms"), (99.0, "p99_ms"), (99.9, "p99_9_ms"))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SyntheticRun:
    return make_run_dir(
        tmp_path_factory.mktemp("ts") / "run",
        duration_s=40,
        rate_per_s=300,
        failure_windows=[(10, 15, 0.5)],
        slow_windows=[(20, 25, 8.0)],
        late_fraction=0.2,
        seed=3,
    )


def _reference_percentiles_ms(run_dir: Path, start: float, end: float) -> list[float]:
    """Percentiles by hdrh's own decode-and-add over every line in [start, end)."""
    blobs = [
        rec["hdr"]
        for rec in iter_jsonl(run_dir / "intervals.jsonl")
        if start <= rec["t"] < end and rec.get("hdr")
    ]
    values = histograms.percentiles_us(histograms.merge(blobs), [p for p, _ in PCTS])
    return [values[p] / 1000 for p, _ in PCTS]


def test_counts_per_second_match_the_samples(run: SyntheticRun) -> None:
    ts = load_timeseries(run.path)
    assert len(ts) == 40
    second = np.floor(run.t_s - run.started_at).astype(int)
    assert ts["requests"].tolist() == np.bincount(second, minlength=40).tolist()
    assert ts["failures"].tolist() == np.bincount(second[~run.ok], minlength=40).tolist()
    assert ts["rps"].tolist() == ts["requests"].astype(float).tolist()
    assert ts["error_rate"].iloc[12] == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("resolution_s", [1.0, 5.0])
def test_percentiles_are_the_exact_merge_of_each_bucket(
    run: SyntheticRun, resolution_s: float
) -> None:
    ts = load_timeseries(run.path, resolution_s)
    for row in ts.itertuples():
        expected = _reference_percentiles_ms(run.path, row.t, row.t + resolution_s)
        got = [getattr(row, column) for _, column in PCTS]
        assert got == pytest.approx(expected, rel=1e-12), row.t


def test_percentiles_agree_with_the_raw_samples(run: SyntheticRun) -> None:
    ts = load_timeseries(run.path, 10.0)
    rel_t = run.t_s - run.started_at
    for row in ts.itertuples():
        start = row.t - run.started_at
        ok_us = run.latency_us[run.ok & (rel_t >= start) & (rel_t < start + 10)]
        assert row.p95_ms == pytest.approx(np.percentile(ok_us, 95) / 1000, rel=0.01)
        assert row.max_ms == pytest.approx(ok_us.max() / 1000, rel=0.001)
    assert ts["requests"].sum() == run.requests()
    assert (ts["rps"] == ts["requests"] / 10).all()


def test_slow_window_shows_in_the_percentiles(run: SyntheticRun) -> None:
    ts = load_timeseries(run.path)
    normal = ts["p50_ms"].iloc[30]
    slow = ts["p50_ms"].iloc[22]
    assert slow > 4 * normal


def test_one_request_name(run: SyntheticRun) -> None:
    name = run.names[1]
    ts = load_timeseries(run.path, 5.0, name=name)
    assert ts["requests"].sum() == run.requests(name)
    assert ts["failures"].sum() == run.failures(name)


def test_fine_counts_are_100ms_slots_by_completion_time(run: SyntheticRun) -> None:
    fine = load_fine_counts(run.path)
    assert fine["t"].iloc[1] - fine["t"].iloc[0] == pytest.approx(0.1)
    assert fine["ok"].sum() == run.requests() - run.failures()
    assert fine["fail"].sum() == run.failures()
    slot = np.floor((run.t_s - run.started_at) * 10 + 1e-9).astype(int)
    expected_fail = np.bincount(slot[~run.ok], minlength=len(fine))
    assert fine["fail"].tolist() == expected_fail.tolist()


def test_distribution_counts_every_success_and_failure(run: SyntheticRun) -> None:
    cols = read_intervals(run.path)
    decoder = CountsDecoder()
    ok = decoder.zeros()
    timeseries_from(cols, 1.0, decoder, total_ok=ok)
    dist = latency_distribution(cols, decoder, ok=ok)
    assert dist.ok_counts.sum() == run.requests() - run.failures()
    assert dist.fail_counts.sum() == run.failures()
    assert np.array_equal(dist.ok_counts, latency_distribution(read_intervals(run.path)).ok_counts)


def test_torn_last_line_of_a_crashed_run_is_skipped(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=8, rate_per_s=50, complete=False)
    ts = load_timeseries(run.path)
    assert 0 < ts["requests"].sum() <= run.requests()
    assert len(load_fine_counts(run.path)) >= 70


def test_gaps_are_buckets_with_zero_requests(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=6, rate_per_s=30, seed=1)
    lines = (run.path / "intervals.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["t"] != run.started_at + 2]
    (run.path / "intervals.jsonl").write_text("\n".join(kept) + "\n")
    ts = load_timeseries(run.path)
    assert len(ts) == 6
    assert ts["requests"].iloc[2] == 0
    assert np.isnan(ts["p50_ms"].iloc[2])


def test_corrupt_histogram_is_counted_not_fatal(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=3, rate_per_s=30)
    lines = (run.path / "intervals.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    record["hdr"] = "bm90IGEgaGlzdG9ncmFt"
    lines[0] = json.dumps(record)
    (run.path / "intervals.jsonl").write_text("\n".join(lines) + "\n")
    cols = read_intervals(run.path)
    ts = timeseries_from(cols)
    assert cols.unreadable_histograms == 1
    assert ts["requests"].sum() == run.requests()


def test_histogram_in_another_configuration_is_merged_exactly() -> None:
    from hdrh.histogram import HdrHistogram

    other = HdrHistogram(1, 60_000_000, 2)
    for value_us in (1_000, 2_000, 50_000, 900_000):
        other.record_value(value_us)
    decoder = CountsDecoder()
    target = decoder.zeros()
    assert decoder.add_into(histograms.encode(other), target) is not None
    assert target.sum() == 4


def test_empty_and_bad_resolution(tmp_path: Path) -> None:
    (tmp_path / "intervals.jsonl").write_text("")
    assert load_timeseries(tmp_path).empty
    assert "p99_9_ms" in load_timeseries(tmp_path).columns
    assert fine_counts_from(read_intervals(tmp_path)).empty
    with pytest.raises(ValueError, match="resolution_s"):
        load_timeseries(tmp_path, 0.5)


def test_fine_counts_of_a_window_only(run: SyntheticRun) -> None:
    cols = read_intervals(run.path)
    whole = fine_counts_from(cols)
    part = fine_counts_from(cols, run.started_at + 10, run.started_at + 15)
    assert part["t"].iloc[0] == pytest.approx(run.started_at + 10)
    assert len(part) == 50
    merged = whole.merge(part, on="t", suffixes=("", "_part"))
    assert (merged["ok"] == merged["ok_part"]).all()
    assert (merged["fail"] == merged["fail_part"]).all()


def test_fine_counts_tolerate_ragged_slot_lists(tmp_path: Path) -> None:
    lines = [
        {"t": 100.0, "name": "a", "requests": 3, "fine_ok": [1, 2], "fine_fail": None},
        {"t": 100.0, "name": "b", "requests": 10, "fine_ok": [1] * 10, "fine_fail": [0] * 10},
    ]
    (tmp_path / "intervals.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    fine = load_fine_counts(tmp_path)
    assert fine["ok"].tolist()[:3] == [2, 3, 1]
    assert fine["ok"].sum() == 13


def test_rereading_an_unchanged_file_is_free_and_a_changed_one_is_read(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=4, rate_per_s=30)
    first = read_intervals(run.path)
    first.unreadable_histograms = 5
    again = read_intervals(run.path)
    assert again.t is first.t and again.unreadable_histograms == 0
    with (run.path / "intervals.jsonl").open("a") as fh:
        fh.write(json.dumps({"t": run.started_at + 9, "name": "x", "requests": 1}) + "\n")
    changed = read_intervals(run.path)
    assert len(changed) == len(first) + 1
