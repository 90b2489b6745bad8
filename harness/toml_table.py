"""The one TOML table reader: typed values, and errors naming the file, the key, the expectation.

`Table` hands out typed values key by key and, at `finish()`, rejects every key nobody
asked for, suggesting the closest known key ("did you mean ..."). Every configuration
file reads through it: scenarios (with their deployment, read-back and recovery tables),
load profiles, and the `params` a fault type or runbook action validates. A bad value is
one ConfigError line, `file: dotted.key: expected X, got Y` (exit 2).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.durations import parse_duration_s
from harness.errors import ConfigError


class Table:
    """One table of a configuration file, read key by key.

    `source` names the file (or `run.json`), `path` the table's dotted path ("" at top).
    """

    def __init__(self, data: Any, source: str, path: str = "") -> None:
        self.source = source
        self.path = path
        if not isinstance(data, Mapping):
            raise self.error(f"expected a table, got {_kind(data)}", key=None)
        self.data: Mapping[str, Any] = data
        self._known: list[str] = []

    def where(self, key: str | None) -> str:
        """`file: dotted.key` for error messages."""
        dotted = ".".join(part for part in (self.path, key) if part)
        return f"{self.source}: {dotted}" if dotted else self.source

    def error(self, message: str, key: str | None) -> ConfigError:
        """A ConfigError located at `key` of this table."""
        return ConfigError(message, self.where(key))

    def has(self, key: str) -> bool:
        """True when `key` is present (and marks it known)."""
        self._known.append(key)
        return key in self.data

    def raw(self, key: str) -> Any:
        """The value of `key` as parsed, or None when absent (marks it known)."""
        self._known.append(key)
        return self.data.get(key)

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str:
        """A non-empty string."""
        value = self.raw(key)
        if value is None:
            if required or default is None:
                raise self.error("is required (a string)", key)
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"expected a non-empty string, got {_kind(value)}", key)
        return value

    def opt_string(self, key: str) -> str | None:
        """A non-empty string, or None when absent."""
        return self.string(key) if self.has(key) else None

    def choice(self, key: str, choices: Sequence[str], default: str | None = None) -> str:
        """One of `choices`, with a suggestion when the value is close to one."""
        value = self.string(key, default)
        if value not in choices:
            raise self.error(
                f"expected one of {', '.join(choices)}, got {value!r}{_suggest(value, choices)}",
                key,
            )
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        low: float = -math.inf,
        high: float = math.inf,
    ) -> float:
        """A finite number in [low, high]."""
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self.error("is required (a number)", key)
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.error(f"expected a number, got {_kind(value)}", key)
        if not low <= value <= high:
            raise self.error(f"expected a number {_bounds(low, high, 'g')}, got {value!r}", key)
        return float(value)

    def opt_number(
        self, key: str, *, low: float = -math.inf, high: float = math.inf
    ) -> float | None:
        """A number in [low, high], or None when absent."""
        return self.number(key, low=low, high=high) if self.has(key) else None

    def integer(
        self, key: str, default: int | None = None, *, low: int = 0, high: int = 2**31
    ) -> int:
        """An integer in [low, high]; required when there is no default."""
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self.error("is required (an integer)", key)
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"expected an integer, got {_kind(value)}", key)
        if not low <= value <= high:
            raise self.error(f"expected an integer {_bounds(low, high, 'd')}, got {value}", key)
        return value

    def duration(self, key: str, default: float | None = None, *, zero_ok: bool = False) -> float:
        """Seconds, from a number or a duration string such as `30s`, `2m`, `250ms`."""
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self.error("is required (a duration such as 30s)", key)
            return default
        if zero_ok and (value == 0 or value in ("0", "0s")) and not isinstance(value, bool):
            return 0.0
        return parse_duration_s(value, where=self.where(key))

    def opt_duration(self, key: str, *, zero_ok: bool = False) -> float | None:
        """Seconds, or None when absent."""
        return self.duration(key, zero_ok=zero_ok) if self.has(key) else None

    def boolean(self, key: str, default: bool) -> bool:
        """true or false."""
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, got {_kind(value)}", key)
        return value

    def table(self, key: str, *, required: bool = False) -> Table | None:
        """The sub-table at `key`, or None when absent."""
        value = self.raw(key)
        if value is None:
            if required:
                raise self.error("is required (a table)", key)
            return None
        return Table(value, self.source, ".".join(p for p in (self.path, key) if p))

    def tables(self, key: str) -> list[Table]:
        """An array of tables (`[[key]]`), empty when absent."""
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(f"expected an array of tables, got {_kind(value)}", key)
        base = ".".join(p for p in (self.path, key) if p)
        return [Table(item, self.source, f"{base}[{i}]") for i, item in enumerate(value)]

    def strings(self, key: str) -> tuple[str, ...]:
        """An array of non-empty strings, empty when absent."""
        value = self.raw(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error(f"expected an array of strings, got {_kind(value)}", key)
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.error(
                    f"expected a non-empty string, got {_kind(item)}", f"{key}[{index}]"
                )
        return tuple(value)

    def finish(self) -> None:
        """Reject every key that was never read: unknown keys are errors."""
        for key in self.data:
            if key not in self._known:
                known = sorted(set(self._known))
                raise self.error(
                    f"unknown key{_suggest(key, known)}; expected one of: {', '.join(known)}",
                    key,
                )


def _bounds(low: float, high: float, spec: str) -> str:
    """`in [1, 10]`, or `>= 1` when only the lower bound is a real one."""
    if math.isinf(high) or high >= 2**31:
        return f">= {low:{spec}}"
    return f"in [{low:{spec}}, {high:{spec}}]"


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind(value: Any) -> str:
    """A short description of a parsed value for error messages."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
