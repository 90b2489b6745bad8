"""Threshold evaluation: each `Threshold` against a run's measurements (and a baseline's).

The expressions themselves (`p(95)<250ms`, `rto<30s`, ...) are parsed once, in
`harness.rundir.thresholds`; this module takes the parsed objects. Evaluation takes an
`Observer` (the run's measurements) so it knows nothing about run directories.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.aborts import threshold_entries
from harness.errors import ConfigError
from harness.rundir.thresholds import (
    ALIASES,
    METRICS,
    OPERATORS,
    RECOVERY_FIELDS,
    Family,
    Threshold,
    parse_threshold,
    parse_thresholds,
    unique,
)
from harness.rundir.thresholds import (
    fmt_number as _fmt,
)

__all__ = [
    "ALIASES",
    "METRICS",
    "OPERATORS",
    "RECOVERY_FIELDS",
    "Family",
    "Observer",
    "Threshold",
    "ThresholdResult",
    "ensure_baseline",
    "evaluate",
    "load_thresholds_file",
    "parse_threshold",
    "parse_thresholds",
    "unique",
]


def load_thresholds_file(path: Path) -> list[Threshold]:
    """Thresholds from a file: TOML (`thresholds = ["...", ...]`) when it ends in `.toml`,
    otherwise one expression per line (blank lines and `#` comments skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read thresholds file: {exc.strerror}", str(path)) from None
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", str(path)) from None
        if "thresholds" not in data:
            raise ConfigError('expected `thresholds = ["p(95)<250ms", ...]`', str(path))
        # entries as a scenario or profile file writes them, k6-style tables included; their
        # abort_on_fail settings are checked as there, and mean nothing after the run
        items, _rules = threshold_entries(data["thresholds"], f"{path}: thresholds")
        return parse_thresholds(items, str(path))
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return parse_thresholds((line for line in lines if line), str(path))


class Observer(Protocol):
    """What a threshold is evaluated against: a run's measurements."""

    def observe(self, threshold: Threshold) -> float | str:
        """The metric in its family's base unit, or why it was not measured."""


@dataclass(frozen=True)
class ThresholdResult:
    """One evaluated threshold; `observed` and `limit` are in `unit`."""

    threshold: Threshold
    observed: float | None
    limit: float | None
    ok: bool
    message: str
    baseline: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The summary.json form."""
        t = self.threshold
        out: dict[str, Any] = {
            "expr": t.expr,
            "scope": t.scope,
            "metric": t.metric,
            "op": t.op,
            "limit": self.limit,
            "unit": t.display_unit,
            "observed": self.observed,
            "ok": self.ok,
            "message": self.message,
            "source": t.source,
        }
        if t.relative_pct is not None:
            out["baseline"] = self.baseline
            out["relative_pct"] = t.relative_pct
        return out


def ensure_baseline(thresholds: Sequence[Threshold], has_baseline: bool) -> None:
    """Raise ConfigError for a baseline-relative threshold when there is no baseline."""
    for t in thresholds:
        if t.relative_pct is not None and not has_baseline:
            raise ConfigError(
                "a limit relative to a baseline needs a baseline run (--baseline RUN_DIR)",
                f"{t.source} {t.expr!r}",
            )


def evaluate(
    thresholds: Sequence[Threshold], run: Observer, baseline: Observer | None = None
) -> list[ThresholdResult]:
    """Evaluate each threshold against the run (and the baseline, for relative limits)."""
    ensure_baseline(thresholds, baseline is not None)
    return [_evaluate_one(t, run, baseline) for t in thresholds]


def _evaluate_one(t: Threshold, run: Observer, baseline: Observer | None) -> ThresholdResult:
    unit = f" {t.display_unit}" if t.display_unit not in ("", "%") else t.display_unit
    base_value: float | None = None
    if t.relative_pct is not None:
        assert baseline is not None  # ensured by evaluate()
        got = baseline.observe(t)
        if isinstance(got, str):
            return ThresholdResult(t, None, None, False, f"baseline: {got}")
        base_value = got
        limit_base = got * (1.0 + t.relative_pct / 100.0)
    else:
        limit_base = t.to_base(t.limit)
    limit = t.from_base(limit_base)
    observed = run.observe(t)
    shown_base = None if base_value is None else t.from_base(base_value)
    if isinstance(observed, str):
        return ThresholdResult(t, None, limit, False, observed, shown_base)
    ok = OPERATORS[t.op](observed, limit_base)
    shown = t.from_base(observed)
    relation = ">" if observed > limit_base else "<" if observed < limit_base else "=="
    message = f"observed {_fmt(shown)}{unit} {relation} limit {_fmt(limit)}{unit}"
    if t.window_s is not None:  # which window was the worst, when the observer says
        message += getattr(run, "window_notes", {}).get(t.expr, "")
    if shown_base is not None and t.relative_pct is not None:
        sign = "+" if t.relative_pct >= 0 else ""
        message += f" (baseline {_fmt(shown_base)}{unit} {sign}{_fmt(t.relative_pct)}%)"
    return ThresholdResult(t, shown, limit, ok, message, shown_base)
