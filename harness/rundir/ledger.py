"""ledger.jsonl, readback.json and attack.jsonl: what RPO and breach figures are made of.

A `LedgerEntry` is one write the service acknowledged to a load user; a `ReadBack` is what
the scenario found when it read every ledger key back after recovery; an `AttackRecord` is
one forged request of a security-breach scenario (docs/run-directory.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.rundir.fields import (
    JSONObject,
    opt_float,
    opt_int,
    opt_str,
    req_bool,
    req_float,
    req_str,
    str_list,
    unknown_fields,
)
from harness.rundir.files import iter_jsonl, read_json

READBACK = "readback.json"
ATTACK = "attack.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    """One acknowledged write: its idempotency key, sequence and acknowledgement time."""

    key: str
    t_ack: float
    seq: int | None = None
    op: str | None = None
    item_id: int | None = None
    extra: JSONObject = field(default_factory=dict)
    """Fields a user's locustfile recorded with the write."""

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "ledger.jsonl") -> LedgerEntry:
        """The typed entry of one decoded line."""
        known = ("key", "t_ack", "seq", "op", "item_id")
        return cls(
            key=req_str(data, "key", where),
            t_ack=req_float(data, "t_ack", where),
            seq=opt_int(data, "seq", where),
            op=opt_str(data, "op", where),
            item_id=opt_int(data, "item_id", where),
            extra=unknown_fields(data, known),
        )

    def to_dict(self) -> dict[str, object]:
        """The line's JSON object."""
        out: dict[str, object] = {"key": self.key, "seq": self.seq, "t_ack": self.t_ack}
        out.update(op=self.op, item_id=self.item_id)
        out.update(self.extra)
        return out


def read_ledger(path: Path) -> Iterator[LedgerEntry]:
    """Every complete entry of a ledger.jsonl file."""
    where = str(path)
    for line in iter_jsonl(path):
        yield LedgerEntry.from_dict(line, where)


@dataclass(frozen=True)
class ReadBack:
    """readback.json: keys found (with their sequence when known), keys missing, or why the
    read-back failed. `present` and `missing` are None when the file did not say."""

    checked_at: float | None
    present: dict[str, int | None] | None = None
    missing: tuple[str, ...] | None = None
    error: str | None = None
    unknown: tuple[str, ...] = ()
    """Keys whose check itself failed (timeout, 5xx, unexpected status): not lost, not
    present; any of them leaves RPO unknown."""
    adapter: str | None = None
    """The read-back adapter: `lookup`, `http` or `sql`."""

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = READBACK) -> ReadBack:
        """The typed read-back of a decoded readback.json."""
        present_raw = data.get("present")
        present: dict[str, int | None] | None = None
        if isinstance(present_raw, dict):
            present = {str(k): opt_int(present_raw, k, where) for k in present_raw}
        elif isinstance(present_raw, list):
            present = dict.fromkeys((str(k) for k in present_raw), None)
        return cls(
            checked_at=opt_float(data, "checked_at", where),
            present=present,
            missing=str_list(data, "missing", where) if "missing" in data else None,
            error=opt_str(data, "error", where),
            unknown=str_list(data, "unknown", where),
            adapter=opt_str(data, "adapter", where),
        )


def read_readback(run_dir: Path) -> ReadBack | None:
    """The run's readback.json, or None when there is none."""
    path = Path(run_dir) / READBACK
    if not path.is_file():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        return ReadBack(checked_at=None, error="readback.json is not a JSON object")
    return ReadBack.from_dict(data, str(path))


@dataclass(frozen=True)
class AttackRecord:
    """One forged request: when it was sent, what it tried, and whether it succeeded."""

    t: float
    op: str
    ok: bool
    status: int | None = None
    kid: str | None = None

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = ATTACK) -> AttackRecord:
        """The typed record of one decoded attack.jsonl line."""
        return cls(
            t=req_float(data, "t", where),
            op=req_str(data, "op", where),
            ok=req_bool(data, "ok", where),
            status=opt_int(data, "status", where),
            kid=opt_str(data, "kid", where),
        )


def read_attacks(run_dir: Path) -> Iterator[AttackRecord]:
    """Every forged request of a security-breach run (none when there is no attack.jsonl)."""
    path = Path(run_dir) / ATTACK
    for line in iter_jsonl(path):
        yield AttackRecord.from_dict(line, str(path))
