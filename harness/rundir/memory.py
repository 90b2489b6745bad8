"""memory.jsonl: the resident set size of each process of a run, sampled every second.

One line per process and sample (docs/run-directory.md):

    {"t": 1764626400.0, "process": "service 4242", "role": "service", "pid": 4242,
     "rss_bytes": 48234496}

`role` is `master`, `worker` or `service`; `process` names one process for the whole run
(charts draw one line per `process`). Load workers measure themselves and send the figure
with their per-second intervals; the master samples itself and the reference service's
processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.rundir.fields import JSONObject, req_int
from harness.rundir.process_sample import ProcessSample, read_samples

MEMORY = "memory.jsonl"
ROLES = ("master", "worker", "service")


@dataclass(frozen=True)
class MemorySample(ProcessSample):
    """One process's RSS at one time."""

    rss_bytes: int

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = MEMORY) -> MemorySample:
        """The typed record of one decoded line (RecordError for a wrong field type)."""
        return cls(
            *cls.process_fields(data, where),
            rss_bytes=req_int(data, "rss_bytes", where),
        )

    def to_dict(self) -> dict[str, object]:
        """The line's JSON object, in the documented field order."""
        return {**super().to_dict(), "rss_bytes": self.rss_bytes}


def read_memory(path: Path) -> Iterator[MemorySample]:
    """Every complete record of a memory.jsonl file (a torn last line is skipped)."""
    return read_samples(path, MemorySample.from_dict)
