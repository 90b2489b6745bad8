"""cpu.jsonl and memory.jsonl: the per-second process samples read back as written, in the
documented field order, and a wrong field named with its file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.rundir.cpu import CpuSample, read_cpu
from harness.rundir.fields import RecordError
from harness.rundir.memory import MemorySample, read_memory


def test_samples_round_trip_in_the_documented_field_order(tmp_path: Path) -> None:
    cpu = CpuSample(1764626400.0, "worker host_1a2b", "worker", 4242, 61.23, 33.0)
    memory = MemorySample(1764626400.0, "service 4242", "service", 4242, 48234496)
    assert list(cpu.to_dict()) == ["t", "process", "role", "pid", "cpu_pct", "wait_pct"]
    assert list(memory.to_dict()) == ["t", "process", "role", "pid", "rss_bytes"]
    (tmp_path / "cpu.jsonl").write_text(json.dumps(cpu.to_dict()) + '\n{"t": 1, "pro')
    (tmp_path / "memory.jsonl").write_text(json.dumps(memory.to_dict()) + "\n")
    assert list(read_cpu(tmp_path / "cpu.jsonl")) == [
        CpuSample(1764626400.0, "worker host_1a2b", "worker", 4242, 61.2, 33.0)
    ]  # rounded to 0.1 % as written; the torn last line is skipped
    assert list(read_memory(tmp_path / "memory.jsonl")) == [memory]
    assert cpu.busy_pct == pytest.approx(94.23) and cpu.saturated


@pytest.mark.parametrize(("field", "value"), [("pid", "7"), ("t", "soon"), ("rss_bytes", 1.5)])
def test_a_wrong_field_names_the_file_and_the_field(
    tmp_path: Path, field: str, value: object
) -> None:
    line = {"t": 1.0, "process": "master", "role": "master", "pid": 7, "rss_bytes": 10}
    path = tmp_path / "memory.jsonl"
    path.write_text(json.dumps({**line, field: value}) + "\n")
    with pytest.raises(RecordError, match=rf"{path}: {field}"):
        list(read_memory(path))
