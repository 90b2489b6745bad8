"""summary.json's `recovery` object, typed: RTO, RPO, breach figures, objectives, verdicts.

Scenario runs only (docs/scenarios.md defines every figure); `harness.analysis.recovery`
computes it and `Recovery.from_dict` reads it back for the report and the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.rundir.fields import (
    JSONObject,
    object_list,
    opt_bool,
    opt_count,
    opt_float,
    opt_str,
    req_bool,
    req_float,
    req_object,
    req_str,
    str_list,
)


@dataclass(frozen=True)
class RunbookStep:
    """One executed runbook action, with its time relative to the injection."""

    t: float
    action: str
    detail: str | None
    ok: bool
    t_rel_s: float | None

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> RunbookStep:
        """From one entry of `recovery.runbook`."""
        detail = data.get("detail")
        return cls(
            t=req_float(data, "t", where),
            action=req_str(data, "action", where),
            detail=None if detail is None else str(detail),
            ok=req_bool(data, "ok", where),
            t_rel_s=opt_float(data, "t_rel_s", where),
        )


_RECOVERY_FLOATS = (
    "t_recovered",
    "t_observe_end",
    "rto_s",
    "ttd_s",
    "outage_s",
    "error_budget_used",
    "error_budget_allowed",
    "rpo_s",
    "checked_at",
    "containment_s",
    "t_contained",
    "t_injected",
    "t_cleared",
    "window_s",
)
_RECOVERY_INTS = (
    "requests",
    "failures",
    "lost_writes",
    "acknowledged_writes",
    "lost_after_injection",
    "unchecked_writes",
    "unknown_writes",
    "unauthorized_ok",
    "forged_requests",
    "forged_ok_after_containment",
    "legit_requests_during_rotation",
    "legit_errors_during_rotation",
)


@dataclass(frozen=True)
class Recovery:
    """summary.json's `recovery` (scenarios): RTO, RPO, breach figures, objectives, verdicts.

    Figures that could not be measured are None (with a reason in `warnings`). `raw` is
    the object as read or computed, so `to_dict()` writes back every field, known or not.
    """

    raw: JSONObject
    scenario: str | None
    fault_type: str | None
    fault_detail: str | None
    detected_by: str | None
    steady_before: bool | None
    steady_before_detail: str | None
    lost_keys: tuple[str, ...]
    objectives: dict[str, float | None]
    verdicts: dict[str, bool]
    runbook: tuple[RunbookStep, ...]
    warnings: tuple[str, ...]
    figures: dict[str, float | None]
    """Every numeric figure by its summary.json name (see _RECOVERY_FLOATS / _INTS)."""

    def figure(self, key: str) -> float | None:
        """A numeric figure by name (`rto_s`, `lost_writes`, …), None when not measured."""
        return self.figures.get(key)

    def count(self, key: str) -> int | None:
        """A count figure by name (`lost_writes`, `forged_requests`, …)."""
        value = self.figures.get(key)
        return None if value is None else int(value)

    def objective(self, key: str) -> float | None:
        """The scenario's objective by summary.json name (`rto_s`, `rpo_s`, `containment_s`),
        None when the scenario sets none."""
        return self.objectives.get(key)

    def verdict(self, key: str) -> bool | None:
        """An objective's verdict (`rto`, `rpo`, `containment`, `recovered`), None when the
        objective does not apply."""
        return self.verdicts.get(key)

    @property
    def rto_s(self) -> float | None:
        """t_recovered - t_injected, or None when the service did not recover in time."""
        return self.figures.get("rto_s")

    @property
    def rpo_s(self) -> float | None:
        """t_injected - t_ack of the oldest lost acknowledged write (0 when none was lost)."""
        return self.figures.get("rpo_s")

    @property
    def t_injected(self) -> float | None:
        """When the fault was injected (None when it never was)."""
        return self.figures.get("t_injected")

    @property
    def lost_writes(self) -> int | None:
        """Acknowledged writes missing after recovery."""
        return self.count("lost_writes")

    @property
    def recovered(self) -> bool:
        """True when an RTO was measured."""
        return self.verdicts.get("recovered", False)

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "summary.json: recovery") -> Recovery:
        """From summary.json's `recovery` object (or compute_recovery's result)."""
        figures: dict[str, float | None] = {k: opt_float(data, k, where) for k in _RECOVERY_FLOATS}
        figures.update({k: opt_count(data, k, where) for k in _RECOVERY_INTS})
        fault = req_object(data, "fault", where)
        objectives = req_object(data, "objectives", where)
        verdicts = req_object(data, "verdicts", where)
        return cls(
            raw=data,
            scenario=opt_str(data, "scenario", where),
            fault_type=opt_str(fault, "type", where),
            fault_detail=None if fault.get("detail") is None else str(fault.get("detail")),
            detected_by=opt_str(data, "detected_by", where),
            steady_before=opt_bool(data, "steady_before", where),
            steady_before_detail=opt_str(data, "steady_before_detail", where),
            lost_keys=str_list(data, "lost_keys", where),
            objectives={str(k): opt_float(objectives, k, where) for k in objectives},
            verdicts={str(k): req_bool(verdicts, k, where) for k in verdicts},
            runbook=tuple(
                RunbookStep.from_dict(s, where) for s in object_list(data, "runbook", where)
            ),
            warnings=str_list(data, "warnings", where),
            figures=figures,
        )

    def to_dict(self) -> dict[str, object]:
        """summary.json's `recovery` object."""
        return dict(self.raw)
