"""summary.json's `generator` and `extreme`: was the load generator the limit?

`generator` comes from cpu.jsonl and the `generator_saturated` events: how busy the
busiest worker got (on a CPU or waiting for one, percent of one core) and how many times a
worker reached saturation. `extreme` comes from the `extreme_end` event: why Extreme
stopped stepping (`target`, `generator`, `time_cap`) and the highest rate that held.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.rundir.fields import JSONObject, opt_float, req_bool, req_float, req_int, req_str

EXTREME_LIMITS = ("target", "generator", "time_cap")


@dataclass(frozen=True)
class GeneratorReport:
    """How busy the load generator was over the run."""

    saturated: bool
    saturated_events: int
    peak_worker_busy_pct: float | None
    peak_master_busy_pct: float | None

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "summary.json: generator") -> GeneratorReport:
        """A decoded `generator` object."""
        return cls(
            saturated=req_bool(data, "saturated", where),
            saturated_events=req_int(data, "saturated_events", where),
            peak_worker_busy_pct=opt_float(data, "peak_worker_busy_pct", where),
            peak_master_busy_pct=opt_float(data, "peak_master_busy_pct", where),
        )

    def to_dict(self) -> dict[str, object]:
        """The summary.json object."""
        return {
            "saturated": self.saturated,
            "saturated_events": self.saturated_events,
            "peak_worker_busy_pct": self.peak_worker_busy_pct,
            "peak_master_busy_pct": self.peak_master_busy_pct,
        }


@dataclass(frozen=True)
class ExtremeOutcome:
    """Why Extreme stopped stepping, and the highest target rate that held."""

    limit: str
    highest_held_rate_per_s: float
    steps_judged: int

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "summary.json: extreme") -> ExtremeOutcome:
        """A decoded `extreme` object."""
        return cls(
            limit=req_str(data, "limit", where),
            highest_held_rate_per_s=req_float(data, "highest_held_rate_per_s", where),
            steps_judged=req_int(data, "steps_judged", where),
        )

    def to_dict(self) -> dict[str, object]:
        """The summary.json object."""
        return {
            "limit": self.limit,
            "highest_held_rate_per_s": self.highest_held_rate_per_s,
            "steps_judged": self.steps_judged,
        }
