"""summary.json's `baseline`: the comparison of a run with a baseline run, as types.

`harness.analysis.baseline.compare` computes it (docs/thresholds.md defines the metrics
and the tolerance); the gate stores it in summary.json and the report and Markdown render
it from these types. Unknown fields are kept, so a newer writer's additions survive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.rundir.fields import (
    JSONObject,
    opt_float,
    opt_str,
    req_bool,
    req_float,
    req_object,
    str_list,
    unknown_fields,
)

DEFAULT_TOLERANCE_PCT = 10.0


@dataclass(frozen=True)
class MetricDelta:
    """One metric in both runs; `delta_pct` is None when the baseline is 0 or missing."""

    current: float | None = None
    baseline: float | None = None
    delta_pct: float | None = None
    regression: bool = False

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> MetricDelta:
        """From one `{"current", "baseline", "delta_pct", "regression"}` object."""
        return cls(
            current=opt_float(data, "current", where),
            baseline=opt_float(data, "baseline", where),
            delta_pct=opt_float(data, "delta_pct", where),
            regression=req_bool(data, "regression", where),
        )

    def to_dict(self) -> dict[str, object]:
        """The summary.json form."""
        return {
            "current": self.current,
            "baseline": self.baseline,
            "delta_pct": self.delta_pct,
            "regression": self.regression,
        }


def _metric_deltas(data: JSONObject, where: str) -> dict[str, MetricDelta]:
    return {
        str(metric): MetricDelta.from_dict(req_object(data, metric, where), f"{where}: {metric}")
        for metric in data
    }


_KNOWN = frozenset(
    {"run_id", "tolerance_pct", "totals", "endpoints", "only_in_run", "only_in_baseline",
     "regression", "regressions"}
)  # fmt: skip


@dataclass(frozen=True)
class BaselineDeltas:
    """Totals and per-request deltas against a baseline run, and what regressed."""

    run_id: str | None = None
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT
    totals: dict[str, MetricDelta] = field(default_factory=dict)
    endpoints: dict[str, dict[str, MetricDelta]] = field(default_factory=dict)
    only_in_run: tuple[str, ...] = ()
    only_in_baseline: tuple[str, ...] = ()
    regression: bool = False
    regressions: tuple[str, ...] = ()
    extra: JSONObject = field(default_factory=dict)
    """Fields this version does not know (written back unchanged)."""

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "summary.json: baseline") -> BaselineDeltas:
        """From summary.json's `baseline` object (RecordError for a wrong field type)."""
        endpoints = req_object(data, "endpoints", where)
        return cls(
            run_id=opt_str(data, "run_id", where),
            tolerance_pct=req_float(data, "tolerance_pct", where, DEFAULT_TOLERANCE_PCT),
            totals=_metric_deltas(req_object(data, "totals", where), f"{where}: totals"),
            endpoints={
                str(name): _metric_deltas(req_object(endpoints, name, where), f"{where}: {name}")
                for name in endpoints
            },
            only_in_run=str_list(data, "only_in_run", where),
            only_in_baseline=str_list(data, "only_in_baseline", where),
            regression=req_bool(data, "regression", where),
            regressions=str_list(data, "regressions", where),
            extra=unknown_fields(data, _KNOWN),
        )

    def to_dict(self) -> dict[str, object]:
        """The summary.json form."""
        out: dict[str, object] = {
            "run_id": self.run_id,
            "tolerance_pct": self.tolerance_pct,
            "totals": {m: d.to_dict() for m, d in self.totals.items()},
            "endpoints": {
                name: {m: d.to_dict() for m, d in deltas.items()}
                for name, deltas in self.endpoints.items()
            },
            "only_in_run": list(self.only_in_run),
            "only_in_baseline": list(self.only_in_baseline),
            "regression": self.regression,
            "regressions": list(self.regressions),
        }
        out.update(self.extra)
        return out
