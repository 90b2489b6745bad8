"""Read back every acknowledged write after recovery: `readback.json`, the input of RPO.

The ledger reaches the master with the workers' seconds, so the read-back first waits
(bounded) until every live worker has shipped past the moment it began; `checked_at` is
the time up to which the ledger is then complete. Every key acknowledged by then is checked
by the scenario's adapter (`[readback]`: lookup, http or sql) and ends in one of three
states:

- **present**: the target still has it;
- **lost**: the target answered that it does not (an `absent` status, a key the query did
  not return, a lookup's `missing`);
- **unknown**: the check itself failed for that key (a timeout, a 5xx, a status in neither
  list, a URL template naming a field its entry does not hold).

The file is exactly docs/scenarios.md's: `{"checked_at", "adapter", "present": [key] or
{key: seq}, "unknown": [key], "unknown_reasons": {reason: count}, "counts": {"present",
"lost", "unknown"}}`, or `{"checked_at", "adapter", "error"}` when the read-back as a whole
failed (the target never answered, the database refused): the run's other figures stand.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gevent

from harness.analysis.data_loss import READBACK
from harness.rundir import RunDir, iter_jsonl, write_json_atomic

LEDGER_WAIT_S = 5.0

Entries = Mapping[str, Mapping[str, Any]]
"""Ledger entries by key: the first entry recorded for each key (its fields)."""


class _Live(Protocol):
    def flush(self) -> None: ...

    def ledger_through_t(self) -> float: ...


class ReadbackError(Exception):
    """The read-back could not be completed; recorded in readback.json as `error`."""


@dataclass
class Checked:
    """What an adapter found: present keys (with a value such as the seq, or None) and
    unknown keys with the reason; every other key it was given is lost."""

    present: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)


class Adapter(Protocol):
    """One way of asking the target which keys it still has."""

    name: str

    def check(self, entries: Entries, deadline: float) -> Checked:
        """Check every key of `entries` before `deadline` (monotonic); ReadbackError if the
        read-back as a whole cannot be done."""
        ...


@dataclass(frozen=True)
class Readback:
    """What the read-back found: keys checked, present, unknown, or the error."""

    checked_at: float
    checked: int
    present: int
    unknown: int = 0
    error: str | None = None
    adapter: str = "lookup"
    took_s: float = 0.0

    @property
    def missing(self) -> int:
        """Checked keys the target answered it no longer has (lost)."""
        return self.checked - self.present - self.unknown

    def detail(self) -> str:
        """One line for the `readback` event."""
        if self.error is not None:
            return f"read-back failed: {self.error}"
        text = f"{self.checked} acknowledged writes checked ({self.adapter}): {self.missing} lost"
        if self.unknown:
            text += f", {self.unknown} unknown (the check failed: RPO not given)"
        return text


def ledger_entries(ledger: Path, checked_at: float) -> dict[str, dict[str, Any]]:
    """Entries of writes acknowledged up to `checked_at`, the first of each key, in order."""
    entries: dict[str, dict[str, Any]] = {}
    for record in iter_jsonl(ledger):
        key, t_ack = record.get("key"), record.get("t_ack")
        if isinstance(key, str) and isinstance(t_ack, int | float) and t_ack <= checked_at:
            entries.setdefault(key, record)
    return entries


def ledger_keys(ledger: Path, checked_at: float) -> list[str]:
    """Keys of writes acknowledged up to `checked_at`, each once, in ledger order."""
    return list(ledger_entries(ledger, checked_at))


def wait_for_ledger(live: _Live, since_t: float, wait_s: float = LEDGER_WAIT_S) -> float:
    """Flush until the ledger is complete up to `since_t` (bounded); the time it is complete to."""
    deadline = time.monotonic() + wait_s
    while True:
        live.flush()
        through_t = live.ledger_through_t()
        if through_t >= since_t or time.monotonic() >= deadline:
            return min(through_t, since_t)
        gevent.sleep(0.1)


def read_back(live: _Live, adapter: Adapter, timeout_s: float, run_dir: Path) -> Readback:
    """Check every acknowledged write and write readback.json (see the module docstring)."""
    checked_at = wait_for_ledger(live, time.time())
    entries = ledger_entries(RunDir(run_dir).ledger, checked_at)
    return check_entries(adapter, entries, checked_at, timeout_s, run_dir)


def check_entries(
    adapter: Adapter, entries: Entries, checked_at: float, timeout_s: float, run_dir: Path
) -> Readback:
    """`adapter.check` over `entries`, written to readback.json; never raises ReadbackError."""
    file = run_dir / READBACK
    started = time.monotonic()
    try:
        checked = adapter.check(entries, started + timeout_s) if entries else Checked()
    except ReadbackError as exc:
        write_json_atomic(file, {"checked_at": checked_at, "adapter": adapter.name,
                                 "error": str(exc)})  # fmt: skip
        return Readback(checked_at, len(entries), 0, 0, str(exc), adapter.name)
    took_s = time.monotonic() - started
    present = {k: v for k, v in checked.present.items() if k in entries}
    unknown = {k: why for k, why in checked.unknown.items() if k in entries and k not in present}
    lost = len(entries) - len(present) - len(unknown)
    values = list(present.values())
    document: dict[str, Any] = {
        "checked_at": checked_at,
        "adapter": adapter.name,
        "present": present if values and values[0] is not None else sorted(present),
        "unknown": list(unknown),
        "unknown_reasons": dict(Counter(unknown.values()).most_common(20)),
        "counts": {"present": len(present), "lost": lost, "unknown": len(unknown)},
        "took_s": round(took_s, 3),
    }
    write_json_atomic(file, document)
    return Readback(checked_at, len(entries), len(present), len(unknown), None, adapter.name,
                    took_s)  # fmt: skip
