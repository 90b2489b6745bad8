"""The run-directory contract as types: old run directories load, records round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.rundir import (
    Event,
    EventKind,
    FaultPayload,
    Manifest,
    RunKind,
    RunStatus,
    Summary,
    Verdict,
    WorkerPayload,
    read_events,
    read_intervals,
    read_ledger,
    read_manifest,
    read_readback,
    read_summary,
)

# Written by the first release (schema 1): a real `harness run` and a synthetic scenario
# judged by that release's code. Never regenerate these with newer code.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rundir_v1"


@pytest.mark.parametrize("name", ["run", "scenario"])
def test_schema_1_run_directories_load_and_round_trip(name: str) -> None:
    path = FIXTURES / name
    manifest = read_manifest(path)
    summary = read_summary(path)
    assert manifest.schema == 1 and manifest.status is RunStatus.COMPLETED and manifest.complete
    assert manifest.to_dict() == json.loads((path / "run.json").read_text())
    assert summary.to_dict() == json.loads((path / "summary.json").read_text())
    assert summary.verdict is Verdict.PASS and summary.totals.requests > 0
    records = list(read_intervals(path / "intervals.jsonl"))
    assert sum(r.requests for r in records) == summary.totals.requests
    assert all(r.fine_ok is not None and len(r.fine_ok) == 10 for r in records)
    events = list(read_events(path / "events.jsonl"))
    assert events[0].kind is EventKind.RUN_STARTED
    assert events[-1].kind in (EventKind.RUN_STOPPED, EventKind.RECOVERY_ACTION)
    assert all(e.kind is not EventKind.OTHER for e in events)
    lines = (path / "events.jsonl").read_text().splitlines()
    assert [e.to_dict() for e in events] == [json.loads(line) for line in lines]
    assert all(entry.key for entry in read_ledger(path / "ledger.jsonl"))


def test_a_scenario_summary_reads_its_recovery_part() -> None:
    path = FIXTURES / "scenario"
    manifest, summary = read_manifest(path), read_summary(path)
    assert manifest.kind is RunKind.SCENARIO and manifest.scenario_config is not None
    recovery = summary.recovery
    assert recovery is not None and recovery.recovered
    assert recovery.rto_s == 10.4 and recovery.lost_writes == 2
    assert recovery.objectives["rto_s"] == 15.0
    assert [s.action for s in recovery.runbook] == ["promote_standby", "repoint_service"]
    assert summary.workers_count == 2 and summary.workers_lost == 1
    readback = read_readback(path)
    assert readback is not None and readback.present is not None
    assert len(readback.present) == 38
    faults = [e.payload() for e in read_events(path / "events.jsonl")]
    assert FaultPayload("database_failover", "synthetic", None, None) in faults
    assert WorkerPayload("worker-1") in faults


def test_an_unknown_event_kind_is_kept_not_fatal() -> None:
    event = Event.from_dict({"t": 1.0, "kind": "made_up", "x": 1})
    assert event.kind is EventKind.OTHER and event.kind_name == "made_up"
    assert event.to_dict() == {"t": 1.0, "kind": "made_up", "x": 1}


def test_a_field_of_the_wrong_type_names_the_file_and_field() -> None:
    with pytest.raises(ConfigError, match=r"run\.json: started_at: expected a number"):
        Manifest.from_dict({"run_id": "x", "started_at": "yesterday"})
    with pytest.raises(ConfigError, match=r"summary\.json: 'maybe' is not a valid Verdict"):
        Summary.from_dict({"run_id": "x", "verdict": "maybe"})


def test_unknown_manifest_fields_survive_a_rewrite() -> None:
    data = {"run_id": "x", "kind": "run", "status": "running", "added_later": [1, 2]}
    assert Manifest.from_dict(data).to_dict()["added_later"] == [1, 2]


def test_fields_added_by_a_newer_writer_survive_a_summary_round_trip() -> None:
    data = json.loads((FIXTURES / "scenario" / "summary.json").read_text())
    data["added_later"] = {"x": 1}
    data["totals"]["added_metric"] = 2
    data["thresholds"] = [
        {"expr": "p(95)<1s", "ok": True, "message": "m", "metric": "p(95)", "window": "60s"}
    ]
    back = Summary.from_dict(data).to_dict()
    assert back["added_later"] == {"x": 1} and back["totals"]["added_metric"] == 2  # type: ignore[index]
    assert back["thresholds"][0]["window"] == "60s"  # type: ignore[index]
