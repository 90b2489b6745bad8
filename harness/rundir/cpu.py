"""cpu.jsonl: how busy each load generator process was, second by second.

One line per process and sample (docs/run-directory.md):

    {"t": 1764626400.0, "process": "worker host_1a2b", "role": "worker", "pid": 4242,
     "cpu_pct": 61.2, "wait_pct": 33.0}

`cpu_pct` is the share of the last second the process's event-loop thread ran on a CPU,
`wait_pct` the share it was ready to run but waited for one (the kernel's schedstat), both
in percent of one core. Their sum is how busy the generator was: at about 100 it had no
idle moment, so it could not keep its schedule, whether its own work filled the core or
other processes took the CPU it needed. Load workers measure themselves and send the
figure with their intervals; the master samples itself (`role` `master`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.rundir.fields import JSONObject, req_float
from harness.rundir.process_sample import ProcessSample, read_samples

CPU = "cpu.jsonl"
SATURATED_PCT = 90.0
"""A generator at least this busy (cpu_pct + wait_pct) is saturated."""


@dataclass(frozen=True)
class CpuSample(ProcessSample):
    """One process's CPU use over the second before `t`."""

    cpu_pct: float
    wait_pct: float

    @property
    def busy_pct(self) -> float:
        """Running or ready to run: 100 means the process never idled."""
        return self.cpu_pct + self.wait_pct

    @property
    def saturated(self) -> bool:
        """Busy at least `SATURATED_PCT` of the second."""
        return self.busy_pct >= SATURATED_PCT

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = CPU) -> CpuSample:
        """The typed record of one decoded line (RecordError for a wrong field type)."""
        return cls(
            *cls.process_fields(data, where),
            cpu_pct=req_float(data, "cpu_pct", where),
            wait_pct=req_float(data, "wait_pct", where),
        )

    def to_dict(self) -> dict[str, object]:
        """The line's JSON object, in the documented field order."""
        return {
            **super().to_dict(),
            "cpu_pct": round(self.cpu_pct, 1),
            "wait_pct": round(self.wait_pct, 1),
        }


def read_cpu(path: Path) -> Iterator[CpuSample]:
    """Every complete record of a cpu.jsonl file (a torn last line is skipped)."""
    return read_samples(path, CpuSample.from_dict)
