"""What every per-second process sample of a run says first: when, and of which process.

cpu.jsonl and memory.jsonl share this record shape (docs/run-directory.md): `t`, `process`
(one name for the process's whole run: charts draw one line per name), `role` and `pid`,
then the measurement. `ProcessSample` holds and reads those four fields; a file's own
record adds its measurement, and `read_samples` reads a whole file of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from harness.rundir.fields import JSONObject, req_float, req_int, req_str
from harness.rundir.files import iter_jsonl

Sample = TypeVar("Sample", bound="ProcessSample")


@dataclass(frozen=True)
class ProcessSample:
    """A sample's process and time; subclasses add what was measured."""

    t: float
    process: str
    role: str
    pid: int

    @staticmethod
    def process_fields(data: JSONObject, where: str) -> tuple[float, str, str, int]:
        """(t, process, role, pid) of one decoded line (RecordError for a wrong type)."""
        return (
            req_float(data, "t", where),
            req_str(data, "process", where),
            req_str(data, "role", where),
            req_int(data, "pid", where),
        )

    def to_dict(self) -> dict[str, object]:
        """The shared fields' JSON object, in the documented order."""
        return {"t": self.t, "process": self.process, "role": self.role, "pid": self.pid}


def read_samples(path: Path, record: Callable[[JSONObject, str], Sample]) -> Iterator[Sample]:
    """Every complete record of a samples file, each read by `record(line, where)` (a torn
    last line is skipped)."""
    where = str(path)
    for line in iter_jsonl(path):
        yield record(line, where)
