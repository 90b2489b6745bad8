"""The synthetic run directories are what the contract says, with exact raw samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import histograms
from harness.rundir import iter_jsonl, read_json
from harness.testing import make_run_dir


def _merged(run_dir: Path, field: str) -> histograms.HdrHistogram:
    return histograms.merge(rec[field] for rec in iter_jsonl(run_dir / "intervals.jsonl"))


def test_histograms_hold_exactly_the_returned_samples(tmp_path: Path) -> None:
    run = make_run_dir(
        tmp_path / "r",
        duration_s=20,
        failure_windows=[(5, 8, 0.5)],
        slow_windows=[(10, 12, 20.0)],
        late_fraction=0.3,
    )
    expected = histograms.new_histogram()
    for value in run.ok_us():
        expected.record_value(int(value))
    assert np.array_equal(histograms.counts(_merged(run.path, "hdr")), histograms.counts(expected))

    corrected = histograms.new_histogram()
    for value in run.ok_us():
        corrected.record_corrected_value(int(value), 100_000)
    merged = histograms.counts(_merged(run.path, "hdr_corrected"))
    assert np.array_equal(merged, histograms.counts(corrected))
    assert _merged(run.path, "hdr_fail").get_total_count() == run.failures() > 0


def test_lines_follow_the_contract(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=10, failure_windows=[(2, 4, 1.0)])
    lines = list(iter_jsonl(run.path / "intervals.jsonl"))
    assert len(lines) == 10 * len(run.names)
    fields = {"t", "dt_s", "name", "requests", "failures", "bytes", "hdr", "hdr_corrected"}
    fields |= {"hdr_fail", "fine_ok", "fine_fail", "errors", "clipped", "workers"}
    for line in lines:
        assert set(line) == fields
        assert line["t"] == int(line["t"]) and line["dt_s"] == 1.0
        assert len(line["fine_ok"]) == len(line["fine_fail"]) == 10
        assert sum(line["fine_ok"]) + sum(line["fine_fail"]) == line["requests"]
        assert sum(line["errors"].values()) == line["failures"] == sum(line["fine_fail"])
    assert sum(line["requests"] for line in lines) == run.requests()
    assert sum(line["failures"] for line in lines) == run.failures()
    manifest = read_json(run.path / "run.json")
    assert manifest["status"] == "completed" and manifest["ended_at"] is not None


def test_unpaced_load_has_no_corrected_histograms(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=3, paced_interval_ms=None)
    assert run.corrected() is None
    assert all(rec["hdr_corrected"] is None for rec in iter_jsonl(run.path / "intervals.jsonl"))


def test_incomplete_run_has_a_torn_tail_and_no_end(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=5, complete=False)
    text = (run.path / "intervals.jsonl").read_text()
    assert not text.endswith("\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.rsplit("\n", 1)[1])
    assert sum(rec["requests"] for rec in iter_jsonl(run.path / "intervals.jsonl")) == (
        run.requests()
    )
    manifest = read_json(run.path / "run.json")
    assert manifest["status"] == "running" and manifest["ended_at"] is None


def test_events_and_ledger(tmp_path: Path) -> None:
    run = make_run_dir(
        tmp_path / "r",
        duration_s=30,
        workers=3,
        lost_workers=1,
        faults=[(10, 20, "kill-primary")],
        stages=[("warmup", 10, 5, 50.0), ("steady", 20, 10, 100.0)],
        ledger_writes=200,
        lost_keys=4,
    )
    events = list(iter_jsonl(run.path / "events.jsonl"))
    kinds = [e["kind"] for e in events]
    assert kinds.count("worker_joined") == 3 and kinds.count("worker_lost") == 1
    assert kinds.count("stage") == 2 and kinds[-1] == "run_stopped"
    injected = next(e for e in events if e["kind"] == "fault_injected")
    assert injected["t"] == run.started_at + 10 and injected["fault"] == "kill-primary"
    ledger = list(iter_jsonl(run.path / "ledger.jsonl"))
    assert [w["seq"] for w in ledger] == list(range(1, 201))
    assert len(run.lost_keys) == 4
    lost = [w for w in ledger if w["key"] in run.lost_keys]
    assert all(w["t_ack"] < run.started_at + 10 for w in lost)
    later = [w for w in ledger if run.started_at + 10 > w["t_ack"] > lost[-1]["t_ack"]]
    assert later == []
