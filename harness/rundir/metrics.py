"""summary.json's METRICS object, typed: the request figures of one scope (`Metrics`, a
request name or the totals) and their latency statistics (`Latency`, milliseconds).

docs/run-directory.md documents every field; `Summary` (harness.rundir.summary) holds one
`Metrics` for the totals and one per request name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.rundir.fields import (
    JSONObject,
    int_map,
    opt_float,
    opt_object,
    req_float,
    req_int,
    unknown_fields,
)

LATENCY_KEYS = ("p50", "p95", "p99", "p99.9", "max", "mean", "min")
_METRICS_KEYS = frozenset(
    {"requests", "failures", "rps", "error_rate", "bytes", "latency_ms",
     "latency_corrected_ms", "errors", "clipped", "iterations", "dropped_iterations",
     "dropped", "grown_users"}
)  # fmt: skip


@dataclass(frozen=True)
class Latency:
    """Latency statistics in milliseconds; every value None when nothing succeeded."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    p99_9: float | None = None
    max: float | None = None
    mean: float | None = None
    min: float | None = None

    def stat(self, key: str) -> float | None:
        """A value by its summary.json key (`p50` … `p99.9`, `max`, `mean`, `min`)."""
        return self.to_dict().get(key)

    @property
    def measured(self) -> bool:
        """True when something succeeded (the values are numbers)."""
        return self.p50 is not None

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> Latency:
        """From summary.json's `latency_ms` object."""
        values = [opt_float(data, key, where) for key in LATENCY_KEYS]
        return cls(*values)

    def to_dict(self) -> dict[str, float | None]:
        """summary.json's `latency_ms` object."""
        values = (self.p50, self.p95, self.p99, self.p99_9, self.max, self.mean, self.min)
        return dict(zip(LATENCY_KEYS, values, strict=True))


@dataclass(frozen=True)
class Metrics:
    """The request figures of one scope (a request name, or the totals)."""

    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    error_rate: float = 0.0
    bytes: int = 0
    latency_ms: Latency = field(default_factory=Latency)
    latency_corrected_ms: Latency | None = None
    errors: dict[str, int] = field(default_factory=dict)
    clipped: int = 0
    iterations: int = 0
    """Arrival-rate starts made (totals only; 0 without an arrival-rate stage)."""
    dropped_iterations: int = 0
    """Arrival-rate starts dropped for want of a free user (totals only)."""
    dropped: float | None = None
    """dropped_iterations / starts due; None without an arrival-rate stage."""
    grown_users: int = 0
    """Users arrival-rate pools grew by beyond `pre_allocated` (totals only)."""
    extra: JSONObject = field(default_factory=dict)
    """Fields this version does not know (written back unchanged)."""

    def error_count(self, kind: str) -> int:
        """How many errors of one kind (`401`, `timeout`, …); 0 when none was recorded."""
        return self.errors.get(kind, 0)

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> Metrics:
        """From a METRICS object of summary.json."""
        latency = opt_object(data, "latency_ms", where)
        corrected = opt_object(data, "latency_corrected_ms", where)
        return cls(
            requests=req_int(data, "requests", where),
            failures=req_int(data, "failures", where),
            rps=req_float(data, "rps", where),
            error_rate=req_float(data, "error_rate", where),
            bytes=req_int(data, "bytes", where),
            latency_ms=Latency() if latency is None else Latency.from_dict(latency, where),
            latency_corrected_ms=None if corrected is None else Latency.from_dict(corrected, where),
            errors=int_map(data, "errors", where),
            clipped=req_int(data, "clipped", where),
            iterations=req_int(data, "iterations", where),
            dropped_iterations=req_int(data, "dropped_iterations", where),
            dropped=opt_float(data, "dropped", where),
            grown_users=req_int(data, "grown_users", where),
            extra=unknown_fields(data, _METRICS_KEYS),
        )

    def to_dict(self) -> dict[str, object]:
        """summary.json's METRICS object."""
        corrected = self.latency_corrected_ms
        out: dict[str, object] = {
            "requests": self.requests,
            "failures": self.failures,
            "rps": self.rps,
            "error_rate": self.error_rate,
            "bytes": self.bytes,
            "latency_ms": self.latency_ms.to_dict(),
            "latency_corrected_ms": None if corrected is None else corrected.to_dict(),
            "errors": dict(self.errors),
            "clipped": self.clipped,
        }
        if self.dropped is not None:  # only with an arrival-rate stage
            out.update(
                iterations=self.iterations,
                dropped_iterations=self.dropped_iterations,
                dropped=self.dropped,
                grown_users=self.grown_users,
            )
        out.update(self.extra)
        return out
