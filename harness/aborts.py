"""Thresholds that stop the run: k6's `abortOnFail`, read from a file's `thresholds` array.

A `thresholds` array (scenario or profile file) holds expressions, or tables in k6's form:

    thresholds = [
        "error_rate<1%",
        { threshold = "p(95)<500ms", abort_on_fail = true, delay_abort_eval = "10s" },
    ]

A table's threshold is judged at the end like any other; with `abort_on_fail` it is also
judged live on the master's merged data every second, from `delay_abort_eval` after the
load's start, and the first time it fails the run is aborted (harness.analysis.abort).
This module only reads the shape (no analysis, no Locust), so the scenario and profile
readers share it; whether a metric can be judged live is checked by `ensure_abortable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.durations import parse_duration_s
from harness.errors import ConfigError
from harness.rundir.thresholds import Threshold, parse_threshold

_TABLE_KEYS = ("threshold", "abort_on_fail", "delay_abort_eval")


@dataclass(frozen=True)
class AbortRule:
    """A threshold that aborts the run the first time it fails, judged live."""

    expr: str
    delay_s: float = 0.0
    """k6's `delay_abort_eval`: not judged before this long after the load's start."""
    source: str = "threshold"
    threshold: Threshold = field(init=False, compare=False, repr=False)
    """`expr`, parsed once when the rule is made (ConfigError naming `source` if bad)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", parse_threshold(self.expr, self.source))


@dataclass(frozen=True)
class AbortPlan:
    """Everything that may stop a run early: threshold rules and the error budget.

    `max_error_budget`: abort when the observation (from the fault's injection on) has
    used more than this many times its error budget; `success_rate` is the steady-state
    objective the budget comes from.
    """

    rules: tuple[AbortRule, ...] = ()
    max_error_budget: float | None = None
    success_rate: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.rules) or self.max_error_budget is not None


def threshold_entries(value: Any, where: str) -> tuple[tuple[str, ...], tuple[AbortRule, ...]]:
    """(every expression, the abort rules among them) of a `thresholds` array at `where`
    (e.g. `scenarios/x.toml: thresholds`); ConfigError naming the entry and key."""
    if value is None:
        return (), ()
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"expected an array of expressions or tables, got {type(value).__name__}", where
        )
    exprs: list[str] = []
    rules: list[AbortRule] = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if isinstance(item, str):
            if not item.strip():
                raise ConfigError("expected a non-empty expression", at)
            exprs.append(item)
            continue
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"expected an expression or a table {{ threshold = ..., abort_on_fail = ... }}, "
                f"got {type(item).__name__}",
                at,
            )
        expr, rule = _table_entry(item, at, where)
        exprs.append(expr)
        if rule is not None:
            rules.append(rule)
    return tuple(exprs), tuple(rules)


def _table_entry(item: Mapping[str, Any], at: str, source: str) -> tuple[str, AbortRule | None]:
    for key in item:
        if key not in _TABLE_KEYS:
            raise ConfigError(
                f"unknown key; expected one of: {', '.join(_TABLE_KEYS)}", f"{at}.{key}"
            )
    expr = item.get("threshold")
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError(f"expected a threshold expression, got {expr!r}", f"{at}.threshold")
    abort = item.get("abort_on_fail", False)
    if not isinstance(abort, bool):
        raise ConfigError(f"expected true or false, got {abort!r}", f"{at}.abort_on_fail")
    delay = item.get("delay_abort_eval")
    delay_s = 0.0
    if delay is not None:
        if not abort:
            raise ConfigError("only meaningful with abort_on_fail = true", f"{at}.delay_abort_eval")
        if isinstance(delay, bool) or not isinstance(delay, str | int | float):
            raise ConfigError(
                f'expected a duration such as "10s", got {delay!r}', f"{at}.delay_abort_eval"
            )
        delay_s = parse_duration_s(delay, f"{at}.delay_abort_eval", allow_zero=True)
    return expr, (AbortRule(expr, delay_s, source) if abort else None)


def stored_entries(exprs: tuple[str, ...], rules: tuple[AbortRule, ...]) -> list[Any]:
    """The `thresholds` array again (run.json's copy of a scenario): tables for rules."""
    by_expr = {rule.expr: rule for rule in rules}
    out: list[Any] = []
    for expr in exprs:
        rule = by_expr.get(expr)
        if rule is None:
            out.append(expr)
        else:
            table: dict[str, Any] = {"threshold": expr, "abort_on_fail": True}
            if rule.delay_s:
                table["delay_abort_eval"] = f"{rule.delay_s:g}s"
            out.append(table)
    return out


def flag_rules(
    exprs: tuple[str, ...], abort_on_fail: bool, delay_abort_eval: str | None
) -> tuple[AbortRule, ...]:
    """`--abort-on-fail` (and `--delay-abort-eval DUR`): every `--threshold` aborts."""
    if delay_abort_eval is not None and not abort_on_fail:
        raise ConfigError("only meaningful with --abort-on-fail", "--delay-abort-eval")
    if not abort_on_fail:
        return ()
    if not exprs:
        raise ConfigError("applies to --threshold flags, and none was given", "--abort-on-fail")
    delay_s = 0.0
    if delay_abort_eval is not None:
        delay_s = parse_duration_s(delay_abort_eval, "--delay-abort-eval", allow_zero=True)
    return tuple(AbortRule(expr, delay_s, "--threshold") for expr in exprs)
