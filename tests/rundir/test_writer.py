"""events.jsonl has one owner for a whole run: the caller's EventLog, shared with the load."""

from __future__ import annotations

from pathlib import Path

from harness.load.journal import Manifest, RunJournal
from harness.rundir import RunDir, read_events
from harness.rundir.writer import EventLog


def test_events_before_during_and_after_the_load_land_in_one_file_in_order(
    tmp_path: Path,
) -> None:
    run_dir = RunDir(tmp_path)
    events = EventLog(run_dir.events)
    seen: list[str] = []
    events("topology_started", t=1.0, url="http://127.0.0.1:1")  # before the load
    journal = RunJournal(run_dir, Manifest("r", "", False, 1, {}, [], 1.0, None), events)
    journal.event_listeners.append(lambda record: seen.append(record["kind"]))
    journal.event("run_started", t=2.0)
    events.emit("fault_injected", t=3.0, fault="x", detail="Bearer abcdefghijklmnop")
    journal.event("run_stopped", t=4.0, reason="completed")
    journal.finish("completed")  # the load ends; the caller's log stays open
    events("topology_stopped", t=5.0)  # after the load
    events.close()
    written = list(read_events(run_dir.events))
    assert [(e.kind_name, e.t) for e in written] == [
        ("topology_started", 1.0),
        ("run_started", 2.0),
        ("fault_injected", 3.0),
        ("run_stopped", 4.0),
        ("topology_stopped", 5.0),
    ]
    assert written[2].text("detail") == "Bearer <redacted>"
    assert seen == ["run_started", "fault_injected", "run_stopped"]  # live metrics, load only
