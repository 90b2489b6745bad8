"""Threshold expressions in k6's style, parsed once into frozen `Threshold` objects.

    p(95)<250ms        error_rate<1%        rto<30s        GET /api/items: p(99)<100ms
    p(95)<+10%         (at most 10% worse than the baseline run's p(95))
    p(95)[60s]<300ms   (in every rolling 60 s window)
    p(95)[60s,95%]<300ms   (in at least 95% of the rolling 60 s windows)

A threshold is `[SCOPE:] METRIC OP LIMIT` (docs/thresholds.md: grammar, metrics, units).
This is the one module that reads the syntax: flags, threshold files, scenario and profile
objectives and run.json's `thresholds` all become `Threshold` objects here, and everything
after that passes the objects. Anything malformed raises ConfigError naming the expression
and what is wrong. Evaluation lives in `harness.analysis.thresholds`.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.errors import ConfigError

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_OPERATOR = re.compile(r"<=|>=|==|!=|<|>")
_WINDOW = re.compile(
    r"\[\s*(\d+(?:\.\d+)?)\s*(s|m)?\s*(?:,\s*((?:\d+(?:\.\d*)?|\.\d+))\s*%\s*)?\]$"
)
_METRIC = re.compile(r"([a-z_]+)\s*(?:\(\s*([^)]*?)\s*\))?")
_LIMIT = re.compile(r"([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([a-z%/]*)")


@dataclass(frozen=True)
class Family:
    """How a group of metrics is measured: base unit, accepted units and their factors."""

    name: str
    base_unit: str
    units: dict[str, float]  # unit -> how many base units one of it is; "" = bare number


_TIME_MS = Family("latency", "ms", {"": 1.0, "us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4})
_TIME_S = Family("duration", "s", {"": 1.0, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0})
_FRACTION = Family("fraction", "", {"": 1.0, "%": 0.01})
_RATE = Family("rate", "req/s", {"": 1.0, "/s": 1.0})
_COUNT = Family("count", "", {"": 1.0})

#: metric name -> (family, takes a percentile argument, scope allowed)
METRICS: dict[str, tuple[Family, bool, bool]] = {
    "p": (_TIME_MS, True, True),
    "avg": (_TIME_MS, False, True),
    "med": (_TIME_MS, False, True),
    "min": (_TIME_MS, False, True),
    "max": (_TIME_MS, False, True),
    "cp": (_TIME_MS, True, True),
    "cavg": (_TIME_MS, False, True),
    "cmed": (_TIME_MS, False, True),
    "cmin": (_TIME_MS, False, True),
    "cmax": (_TIME_MS, False, True),
    "rps": (_RATE, False, True),
    "error_rate": (_FRACTION, False, True),
    "failures": (_COUNT, False, True),
    "requests": (_COUNT, False, True),
    "dropped": (_FRACTION, False, False),
    "rto": (_TIME_S, False, False),
    "ttd": (_TIME_S, False, False),
    "outage": (_TIME_S, False, False),
    "containment": (_TIME_S, False, False),
    "rpo": (_TIME_S, False, False),
    "lost_writes": (_COUNT, False, False),
    "unauthorized_ok": (_COUNT, False, False),
    "forged_after_containment": (_COUNT, False, False),
}
ALIASES = {"rate": "rps", "p_corrected": "cp", "mean": "avg", "median": "med"}
#: recovery metric -> its field in summary["recovery"]
RECOVERY_FIELDS = {
    "rto": "rto_s",
    "ttd": "ttd_s",
    "outage": "outage_s",
    "containment": "containment_s",
    "rpo": "rpo_s",
    "lost_writes": "lost_writes",
    "unauthorized_ok": "unauthorized_ok",
    "forged_after_containment": "forged_ok_after_containment",
}


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold. `limit` is in `unit`; `relative_pct` is set (signed) for a
    limit relative to the baseline, e.g. +10 for `p(95)<+10%`, and then `limit` is unused."""

    expr: str
    scope: str | None
    name: str
    arg: float | None
    op: str
    limit: float
    unit: str
    relative_pct: float | None = None
    source: str = field(default="threshold", compare=False)
    """Where it was written (for messages): not part of what the threshold is."""
    window_s: int | None = None
    """`p(95)[60s]`: the limit holds in every rolling window this long (analysis.windows)."""
    window_share: float | None = None
    """`p(95)[60s,95%]`: the fraction of windows that must hold (None: every window)."""

    @property
    def metric(self) -> str:
        """The metric as written canonically: `p(95)`, `error_rate`, `rto`, `p(95)[60s]`."""
        name = f"{self.name}({fmt_number(self.arg)})" if self.arg is not None else self.name
        if self.window_s is None:
            return name
        if self.window_share is None:
            return f"{name}[{self.window_s}s]"
        return f"{name}[{self.window_s}s,{fmt_number(self.window_share * 100)}%]"

    @property
    def family(self) -> Family:
        """The metric's family (base unit and accepted units)."""
        return METRICS[self.name][0]

    @property
    def display_unit(self) -> str:
        """The unit observed values are reported in: the limit's, or the family's base."""
        return self.unit if self.relative_pct is None else self.family.base_unit

    def __str__(self) -> str:
        return self.expr

    def to_base(self, value: float) -> float:
        """A value in this threshold's unit, in the family's base unit."""
        return value * self.family.units.get(self.unit, 1.0)

    def from_base(self, value: float) -> float:
        """A value in the family's base unit, in this threshold's display unit."""
        unit = self.display_unit if self.display_unit in self.family.units else ""
        return value / self.family.units[unit]


def parse_threshold(text: str, source: str = "threshold") -> Threshold:
    """Parse `[SCOPE:] METRIC OP LIMIT`; raise ConfigError naming the expression if bad."""
    where = f"{source} {text!r}"
    expr = text.strip()
    if not expr:
        raise ConfigError("empty threshold", where)
    scope: str | None = None
    body = expr
    if ":" in expr:
        scope_text, body = expr.rsplit(":", 1)
        scope = scope_text.strip() or None
        if scope is None:
            raise ConfigError("empty request name before ':'", where)
        if not body.strip():
            raise ConfigError(f"missing the condition after '{scope}:'", where)
    found = _OPERATOR.search(body)
    if found is None:
        raise ConfigError("expected an operator: < <= > >= == !=", where)
    left, op, right = body[: found.start()].strip(), found.group(), body[found.end() :].strip()
    left, window_s, window_share = _parse_window(left, where)
    name, arg = _parse_metric(left, where)
    if window_s is not None and name not in ("p", "cp"):
        raise ConfigError(
            f"a time window applies to percentiles only (p(N)[60s]), not {name}", where
        )
    family, _takes_arg, scoped = METRICS[name]
    if scope is not None and not scoped:
        raise ConfigError(f"{name} is measured for the whole run; it takes no request name", where)
    if not right:
        raise ConfigError(f"missing the limit after '{op}'", where)
    if _OPERATOR.match(right) or right.startswith("="):
        raise ConfigError(f"malformed operator near '{op}{right[:2]}'", where)
    limit = _LIMIT.fullmatch(right.lower())
    if limit is None:
        raise ConfigError(f"limit {right!r} is not a number with an optional unit", where)
    sign, number, unit = limit.groups()
    if sign:
        if unit != "%":
            raise ConfigError(
                f"a signed limit is relative to the baseline and must be a percentage, "
                f"e.g. {sign}10%; got {right!r}",
                where,
            )
        if window_s is not None:
            raise ConfigError(
                "a time window takes an absolute limit, not one relative to the baseline", where
            )
        pct = float(number) * (-1.0 if sign == "-" else 1.0)
        return Threshold(text, scope, name, arg, op, pct, "%", relative_pct=pct, source=source)
    if unit not in family.units:
        expected = ", ".join(u or "a bare number" for u in family.units)
        hint = "; for a limit relative to the baseline write +N%" if unit == "%" else ""
        raise ConfigError(f"unknown unit {unit!r} for {name} (expected {expected}){hint}", where)
    display = unit or family.base_unit
    return Threshold(
        text,
        scope,
        name,
        arg,
        op,
        float(number),
        display,
        source=source,
        window_s=window_s,
        window_share=window_share,
    )


def _parse_window(text: str, where: str) -> tuple[str, int | None, float | None]:
    """`p(95)[60s,95%]` → (`p(95)`, 60, 0.95); `[60s]` has no share (every window); a
    metric without a window is returned as is."""
    if not text.endswith("]"):
        return text, None, None
    found = _WINDOW.search(text)
    if found is None:
        raise ConfigError(
            "expected a window such as [60s], [2m] or [60s,95%] after the metric", where
        )
    seconds = float(found.group(1)) * (60 if found.group(2) == "m" else 1)
    if seconds < 1 or seconds != int(seconds):
        raise ConfigError(
            f"a window is a whole number of seconds >= 1, got {found.group(0)}", where
        )
    share: float | None = None
    if found.group(3) is not None:
        pct = float(found.group(3))
        if not 0 < pct <= 100:
            raise ConfigError(
                f"a share of windows is a percentage above 0 and at most 100, got {pct:g}%",
                where,
            )
        share = None if pct == 100 else pct / 100
    return text[: found.start()].strip(), int(seconds), share


def _parse_metric(text: str, where: str) -> tuple[str, float | None]:
    match = _METRIC.fullmatch(text.lower())
    if match is None or not text:
        raise ConfigError(f"unknown metric {text!r} (expected one of {_metric_list()})", where)
    name, arg_text = match.group(1), match.group(2)
    name = ALIASES.get(name, name)
    if name not in METRICS:
        raise ConfigError(f"unknown metric {match.group(1)!r} (expected {_metric_list()})", where)
    takes_arg = METRICS[name][1]
    if not takes_arg:
        if arg_text is not None:
            raise ConfigError(f"{name} takes no argument", where)
        return name, None
    if arg_text is None:
        raise ConfigError(f"{name} needs a percentile, e.g. {name}(95)", where)
    try:
        arg = float(arg_text)
    except ValueError:
        raise ConfigError(f"percentile {arg_text!r} is not a number", where) from None
    if not 0.0 <= arg <= 100.0 or math.isnan(arg):
        raise ConfigError(f"percentile must be between 0 and 100, got {arg_text}", where)
    return name, arg


def _metric_list() -> str:
    return ", ".join(f"{n}(N)" if METRICS[n][1] else n for n in METRICS)


def parse_thresholds(texts: Iterable[str], source: str = "threshold") -> list[Threshold]:
    """Parse several expressions from one source, in order."""
    return [parse_threshold(text, source) for text in texts]


def unique(thresholds: Iterable[Threshold]) -> list[Threshold]:
    """Drop repeats of the same condition (same scope, metric, operator and limit)."""
    seen: set[tuple[object, ...]] = set()
    out: list[Threshold] = []
    for t in thresholds:
        key = (
            t.scope,
            t.name,
            t.arg,
            t.window_s,
            t.window_share,
            t.op,
            t.to_base(t.limit),
            t.relative_pct,
        )
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def as_thresholds(items: Iterable[Threshold | str], source: str = "--threshold") -> list[Threshold]:
    """Loose input made canonical once, at an API edge: expressions are parsed (`source`
    names them in errors), `Threshold` objects pass as they are."""
    return [t if isinstance(t, Threshold) else parse_threshold(t, source) for t in items]


def expressions(thresholds: Iterable[Threshold]) -> list[str]:
    """The thresholds as written (run.json's `thresholds`, a `--threshold` to pass on)."""
    return [t.expr for t in thresholds]


def fmt_number(value: float | None) -> str:
    """Numbers for messages: 4 significant digits, no exponent for everyday sizes."""
    if value is None:
        return "null"
    if value == 0:
        return "0"
    if abs(value) >= 1e4:
        return f"{value:.0f}"
    return f"{value:.4g}"
