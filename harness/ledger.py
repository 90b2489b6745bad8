"""The ledger of acknowledged writes, for any locustfile: `ledger.record(key, **fields)`.

In your own locustfile, once the target has acknowledged a write::

    from harness import ledger

    resp = self.client.post("/orders", json=order)
    if resp.status_code == 201:
        ledger.record(order["id"], table="orders")

Each call becomes one line of the run directory's `ledger.jsonl`:
`{"key", "t_ack", "worker", **fields}` (`t_ack` is the moment of the call, Unix seconds).
The line travels with the worker's seconds to the master exactly as the reference users'
entries do, so a worker that dies loses what it had not shipped yet, and the read-back
after recovery checks every key that arrived (docs/runner.md, "Your own service").

`key` is a non-empty string (an int is turned into one); `fields` must be JSON-serializable
(a `LedgerFieldError` names the one that is not) and may not be named `key`, `t_ack` or
`worker`. Outside a harness worker (plain `locust -f`), `record` does nothing and logs one
warning. Importing this module is free: no Locust, no gevent.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

Sink = Callable[[dict[str, Any]], None]

RESERVED_FIELDS = ("key", "t_ack", "worker")

_log = logging.getLogger(__name__)
_sink: Sink | None = None
_worker: str | None = None
_warned = False


class LedgerFieldError(TypeError):
    """`record` was given a key or a field the ledger cannot hold; the message says which."""


def record(key: str | int, **fields: Any) -> None:
    """Record one acknowledged write (see the module docstring); call it after the ack."""
    t_ack = time.time()
    entry = _entry(key, t_ack, fields)
    sink = _sink
    if sink is None:
        _warn_once()
        return
    sink(entry)


def install(sink: Sink, worker: str) -> None:
    """Send every recorded entry to `sink` from now on (the harness worker calls this)."""
    global _sink, _worker
    _sink, _worker = sink, worker


def uninstall() -> None:
    """Stop recording (entries are dropped again, with the one warning)."""
    global _sink, _worker
    _sink, _worker = None, None


def installed() -> bool:
    """True inside a harness worker, where `record` reaches the run directory."""
    return _sink is not None


def _entry(key: str | int, t_ack: float, fields: dict[str, Any]) -> dict[str, Any]:
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise LedgerFieldError(
            f"ledger.record: expected the key as a string (or an int), got {type(key).__name__}"
        )
    text = str(key)
    if not text:
        raise LedgerFieldError("ledger.record: the key is empty")
    for name, value in fields.items():
        if name in RESERVED_FIELDS:
            raise LedgerFieldError(
                f"ledger.record({text!r}): field {name!r} is reserved "
                f"(the ledger sets {', '.join(RESERVED_FIELDS)})"
            )
        _ensure_json(text, name, value)
    return {"key": text, "t_ack": t_ack, "worker": _worker, **fields}


def _ensure_json(key: str, name: str, value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        if isinstance(value, float) and not math.isfinite(value):
            why = f"{value} is not a JSON number"
        else:
            why = str(exc)
        raise LedgerFieldError(
            f"ledger.record({key!r}): field {name!r} is not JSON-serializable: {why}"
        ) from None


def _warn_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        _log.warning(
            "harness.ledger.record: not running under a harness worker "
            "(harness run / scenario); acknowledged writes are not recorded"
        )
