"""The recovery table printed after a scenario, from summary.json's `recovery` (no Locust)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f} s"


def _count(value: Any) -> str:
    return "-" if value is None else str(int(value))


def _objective(objectives: Mapping[str, Any], key: str) -> str:
    value = objectives.get(key)
    return "" if value is None else f"<= {float(value):g} s"


def _verdict(verdicts: Mapping[str, Any], key: str) -> str:
    if key not in verdicts:
        return ""
    return "ok" if verdicts[key] else "FAIL"


def recovery_rows(recovery: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, observed, objective, verdict) rows of a recovery result."""
    objectives = recovery.get("objectives") or {}
    verdicts = recovery.get("verdicts") or {}
    lost = recovery.get("lost_writes")
    acked = recovery.get("acknowledged_writes")
    lost_text = _count(lost) if lost is None else f"{lost} of {acked}"
    rto = _seconds(recovery.get("rto_s")) if recovery.get("rto_s") is not None else "not recovered"
    rows = [
        ("RTO", rto, _objective(objectives, "rto_s"), _verdict(verdicts, "rto")),
        ("time to detect", _seconds(recovery.get("ttd_s")), "", ""),
        ("outage (first to last failure)", _seconds(recovery.get("outage_s")), "", ""),
        ("RPO", _seconds(recovery.get("rpo_s")), _objective(objectives, "rpo_s"),
         _verdict(verdicts, "rpo")),
        ("lost writes", lost_text, "", ""),
    ]  # fmt: skip
    if recovery.get("unknown_writes"):
        rows.append(("unknown writes (check failed)", _count(recovery["unknown_writes"]), "", ""))
    if recovery.get("forged_requests") is not None:
        rows += [
            ("time to containment", _seconds(recovery.get("containment_s")),
             _objective(objectives, "containment_s"), _verdict(verdicts, "containment")),
            ("unauthorized operations ok", _count(recovery.get("unauthorized_ok")), "", ""),
            ("forged ok after containment", _count(recovery.get("forged_ok_after_containment")),
             "0", _verdict(verdicts, "no_forged_ok_after_containment")),
            ("legit errors during rotation",
             f"{_count(recovery.get('legit_errors_during_rotation'))} of "
             f"{_count(recovery.get('legit_requests_during_rotation'))}", "", ""),
        ]  # fmt: skip
    return rows


def recovery_table(summary: Mapping[str, Any]) -> str:
    """The recovery figures against the objectives, then the measurement's warnings."""
    recovery = summary.get("recovery")
    if not isinstance(recovery, Mapping):
        return "recovery: not measured"
    rows = [("recovery", "observed", "objective", "verdict"), *recovery_rows(recovery)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    lines += [f"note: {warning}" for warning in recovery.get("warnings") or []]
    return "\n".join(lines)
