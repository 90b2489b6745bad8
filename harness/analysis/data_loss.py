"""Data loss after a failure: which acknowledged writes are missing at read-back, and RPO.

The load engine records every acknowledged write in `ledger.jsonl` (key, seq, t_ack); after
recovery the runner reads every key back and writes `readback.json`:

    {"checked_at": float, "present": [key, ...]}        # or {key: seq, ...}
    {"checked_at": float, "missing": [key, ...]}        # the other way round
    {"checked_at": float, "error": "why it failed"}     # read-back impossible

plus `"unknown": [key, ...]`: keys whose check itself failed (neither present nor lost).

RPO = max(0, t_injected − t_ack of the oldest lost write); 0 when nothing is lost; None
when any key is unknown (the oldest loss cannot be known). Writes acknowledged after
`checked_at` were not checked and are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.rundir import read_json

READBACK = "readback.json"


@dataclass(frozen=True)
class DataLoss:
    """Acknowledged writes checked at read-back and those missing (RPO)."""

    acknowledged_writes: int
    lost_writes: int | None
    lost_after_injection: int | None
    rpo_s: float | None
    checked_at: float | None
    unchecked_writes: int
    lost_keys: tuple[str, ...] = ()
    unknown_writes: int | None = None
    """Checked keys whose check failed (a timeout, a 5xx...): neither present nor lost."""


def measure_data_loss(
    ledger: Iterable[Mapping[str, Any]],
    readback: Mapping[str, Any] | None,
    t_injected: float | None,
) -> DataLoss:
    """RPO and lost writes from ledger records and the read-back result (pure)."""
    acked: dict[str, float] = {}
    for record in ledger:
        key, t_ack = record.get("key"), record.get("t_ack")
        if isinstance(key, str) and isinstance(t_ack, int | float):
            acked[key] = min(float(t_ack), acked.get(key, float(t_ack)))
    checked_at = readback.get("checked_at") if readback else None
    if not isinstance(checked_at, int | float):
        return DataLoss(len(acked), None, None, None, None, 0)
    checked = {k: t for k, t in acked.items() if t <= checked_at}
    unknown = {str(k) for k in (readback or {}).get("unknown") or ()} & set(checked)
    missing = _missing_keys(readback or {}, checked) - unknown
    lost = sorted(missing, key=lambda k: (checked[k], k))
    after = sum(1 for k in lost if t_injected is not None and checked[k] >= t_injected)
    if unknown:
        rpo_s: float | None = None
    elif not lost:
        rpo_s = 0.0
    elif t_injected is None:
        rpo_s = None
    else:
        rpo_s = round(max(0.0, t_injected - checked[lost[0]]), 3)
    return DataLoss(
        acknowledged_writes=len(checked),
        lost_writes=len(lost),
        lost_after_injection=after,
        rpo_s=rpo_s,
        checked_at=float(checked_at),
        unchecked_writes=len(acked) - len(checked),
        lost_keys=tuple(lost[:50]),
        unknown_writes=len(unknown),
    )


def _missing_keys(readback: Mapping[str, Any], checked: Mapping[str, float]) -> set[str]:
    if "missing" in readback:
        return {str(k) for k in readback.get("missing") or ()} & set(checked)
    present = readback.get("present") or ()
    return set(checked) - {str(k) for k in present}


def read_readback(path: Path, warnings: list[str]) -> Mapping[str, Any] | None:
    file = path / READBACK
    if not file.exists():
        warnings.append("no readback.json: RPO not measured")
        return None
    try:
        data = read_json(file)
    except (OSError, ValueError) as exc:
        warnings.append(f"readback.json unreadable: {exc}")
        return None
    if not isinstance(data, Mapping):
        warnings.append("readback.json is not an object")
        return None
    if data.get("error"):
        warnings.append(f"read-back failed: {data['error']}")
        return None
    return data
