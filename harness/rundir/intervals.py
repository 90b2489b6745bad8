"""intervals.jsonl: one record per interval and request name (docs/run-directory.md).

`FINE_SLOTS` slots of `FINE_SLOT_S` each split an interval for recovery timing; the
recorder fills them and the analysis reads them, both from here. Histograms stay encoded
(`hdr`, `hdr_corrected`, `hdr_fail`): `harness.rundir.hdr` decodes them in bulk, which is
what keeps an hour-long run fast to summarise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.rundir.fields import (
    JSONObject,
    int_list,
    int_map,
    opt_str,
    req_float,
    req_int,
    req_str,
)
from harness.rundir.files import iter_jsonl

INTERVAL_S = 1.0
"""Length of one interval (a record's `dt_s`)."""
FINE_SLOTS = 10
"""Fine-grained success/failure slots per interval (`fine_ok`, `fine_fail`)."""
FINE_SLOT_S = INTERVAL_S / FINE_SLOTS
"""Length of one fine slot: 100 ms."""

ARRIVALS_NAME = "(arrivals)"
"""The line of an arrival-rate executor's starts: `iterations` started on schedule and
`dropped_iterations` dropped for want of a free user, by the second they were due (a start
that never happened has no request name), and `grown_users`, the users the pool grew by
in that second (present when not 0: an arrival-rate stage with `pre_allocated`)."""


@dataclass(frozen=True)
class IntervalRecord:
    """One line of intervals.jsonl. Several may share `t` and `name` (late data): add them."""

    t: float
    name: str
    dt_s: float = INTERVAL_S
    requests: int = 0
    failures: int = 0
    bytes: int = 0
    hdr: str | None = None
    hdr_corrected: str | None = None
    hdr_fail: str | None = None
    fine_ok: tuple[int, ...] | None = None
    fine_fail: tuple[int, ...] | None = None
    errors: dict[str, int] = field(default_factory=dict)
    clipped: int = 0
    workers: int = 0
    iterations: int = 0
    dropped_iterations: int = 0
    grown_users: int = 0

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "intervals.jsonl") -> IntervalRecord:
        """The typed record of one decoded line (RecordError for a wrong field type)."""
        return cls(
            t=req_float(data, "t", where),
            name=req_str(data, "name", where),
            dt_s=req_float(data, "dt_s", where, INTERVAL_S),
            requests=req_int(data, "requests", where),
            failures=req_int(data, "failures", where),
            bytes=req_int(data, "bytes", where),
            hdr=opt_str(data, "hdr", where) or None,
            hdr_corrected=opt_str(data, "hdr_corrected", where) or None,
            hdr_fail=opt_str(data, "hdr_fail", where) or None,
            fine_ok=int_list(data, "fine_ok", where),
            fine_fail=int_list(data, "fine_fail", where),
            errors=int_map(data, "errors", where),
            clipped=req_int(data, "clipped", where),
            workers=req_int(data, "workers", where),
            iterations=req_int(data, "iterations", where, 0),
            dropped_iterations=req_int(data, "dropped_iterations", where, 0),
            grown_users=req_int(data, "grown_users", where, 0),
        )

    def to_dict(self) -> dict[str, object]:
        """The line's JSON object, in the documented field order."""
        out: dict[str, object] = {
            "t": self.t,
            "dt_s": self.dt_s,
            "name": self.name,
            "requests": self.requests,
            "failures": self.failures,
            "bytes": self.bytes,
            "hdr": self.hdr,
            "hdr_corrected": self.hdr_corrected,
            "hdr_fail": self.hdr_fail,
            "fine_ok": None if self.fine_ok is None else list(self.fine_ok),
            "fine_fail": None if self.fine_fail is None else list(self.fine_fail),
            "errors": dict(self.errors),
            "clipped": self.clipped,
            "workers": self.workers,
        }
        if self.iterations or self.dropped_iterations:  # the `(arrivals)` line only
            out.update(iterations=self.iterations, dropped_iterations=self.dropped_iterations)
        if self.grown_users:
            out["grown_users"] = self.grown_users
        return out


def read_intervals(path: Path) -> Iterator[IntervalRecord]:
    """Every complete record of an intervals.jsonl file (a torn last line is skipped)."""
    where = str(path)
    for line in iter_jsonl(path):
        yield IntervalRecord.from_dict(line, where)
