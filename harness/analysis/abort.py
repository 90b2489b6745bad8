"""Live judgement of abort rules on the master's merged per-second data.

`LiveJudge` follows the intervals.jsonl lines as the master writes them (each one merged
over workers) and keeps what the end-of-run summary would compute from them so far: exact
histograms and counts per request name and in total, and per-second histograms for
windowed percentiles (`p(95)[10s]`: the last 10 complete seconds; a share rule such as
`p(95)[10s,90%]` fails once more windows have failed than the share allows over the planned
run, so the run could no longer pass). `check(now)` judges
every rule with the same code as summary.json (`observe_scope`), so a rule aborts the run
exactly when the summary, computed on the same seconds, would say it failed.

The error budget (`--max-error-budget N`, scenarios): failures from the fault's injection
on, over the failures the steady-state success rate allows for the run. The run's final
request count is not known yet, so the denominator projects the requests so far to the
planned duration (the summary's `error_budget_used` uses the real count).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.aborts import AbortPlan, AbortRule
from harness.analysis.measure import ScopeData, observe_scope
from harness.errors import ConfigError
from harness.rundir.hdr import BlobDecoder, new_counts, percentiles_from_counts
from harness.rundir.intervals import ARRIVALS_NAME, FINE_SLOT_S
from harness.rundir.thresholds import (
    OPERATORS,
    RECOVERY_FIELDS,
    Threshold,
    fmt_number,
)


def ensure_abortable(rule: AbortRule) -> Threshold:
    """The rule's threshold, parsed; ConfigError when it cannot be judged live."""
    threshold = rule.threshold
    where = f"{rule.source} {rule.expr!r}"
    if threshold.name in RECOVERY_FIELDS:
        raise ConfigError(
            f"abort_on_fail needs a load metric judged every second (latency, error_rate, "
            f"rps, failures, requests, dropped); {threshold.name} is known only after the run",
            where,
        )
    if threshold.relative_pct is not None:
        raise ConfigError(
            "abort_on_fail needs an absolute limit, not one relative to a baseline", where
        )
    if rule.delay_s < 0:
        raise ConfigError(f"expected a delay >= 0, got {rule.delay_s:g}s", where)
    return threshold


@dataclass(frozen=True)
class AbortDecision:
    """Why the run stops: the rule that failed, what was observed, on which data."""

    expr: str
    source: str
    message: str
    observed: float | None
    through_t: float
    """The end of the last whole second judged: when the data showed the failure."""

    def event_fields(self) -> dict[str, Any]:
        """The `run_aborted` event's fields."""
        return {
            "threshold": self.expr,
            "source": self.source,
            "observed": self.observed,
            "message": self.message,
            "through_t": self.through_t,
        }


class LiveJudge:
    """Judges an `AbortPlan` on merged lines as they are written (see the module)."""

    def __init__(self, plan: AbortPlan, t0: float, planned_s: float) -> None:
        self.plan = plan
        self.t0 = t0
        self.planned_s = planned_s
        self._rules = [(rule, ensure_abortable(rule)) for rule in plan.rules]
        self._scopes: dict[str, ScopeData] = {}
        self._totals = ScopeData()
        self._decoder = BlobDecoder()
        self._scratch = new_counts()
        windows = [t for _r, t in self._rules if t.window_s is not None]
        self._keep_s = max((t.window_s or 0 for t in windows), default=0)
        self._seconds: dict[tuple[str | None, bool], dict[int, np.ndarray]] = {
            (t.scope, t.name == "cp"): {} for t in windows
        }
        self._first_t: int | None = None
        self.through_t: float | None = None
        self._changed = False
        self.t_injected: float | None = None
        self.observed_failures = 0
        self._failed_windows: dict[str, set[int]] = {}  # share rules: failed windows' last second

    def observe_event(self, event: Mapping[str, Any]) -> None:
        """Note the fault's injection (where the error budget's observation starts)."""
        if event.get("kind") == "fault_injected" and self.t_injected is None:
            self.t_injected = float(event["t"])

    def observe_line(self, line: Mapping[str, Any]) -> None:
        """Take one merged intervals.jsonl line."""
        t = int(float(line["t"]))
        self._first_t = t if self._first_t is None else min(self._first_t, t)
        self.through_t = max(self.through_t or 0.0, t + float(line.get("dt_s", 1.0)))
        self._changed = True
        totals = self._totals
        if line["name"] == ARRIVALS_NAME:
            totals.iterations += int(line.get("iterations") or 0)
            totals.dropped_iterations += int(line.get("dropped_iterations") or 0)
            return
        scope = self._scopes.setdefault(str(line["name"]), ScopeData())
        for data in (scope, totals):
            data.requests += int(line["requests"])
            data.failures += int(line["failures"])
        self._add(line.get("hdr"), str(line["name"]), t, corrected=False)
        self._add(line.get("hdr_corrected"), str(line["name"]), t, corrected=True)
        if self.t_injected is not None:
            for slot, bad in enumerate(line.get("fine_fail") or ()):
                if t + (slot + 1) * FINE_SLOT_S > self.t_injected:
                    self.observed_failures += int(bad)

    def _add(self, blob: str | None, name: str, t: int, corrected: bool) -> None:
        if not blob:
            return
        span = self._decoder.add_range(blob, self._scratch)
        if span is None:
            return
        lo, hi = span[0], span[1] + 1
        part = self._scratch[lo:hi]
        for data in (self._scopes[name], self._totals):
            if corrected:
                if data.corrected_counts is None:
                    data.corrected_counts = new_counts()
                data.corrected_counts[lo:hi] += part
            else:
                data.ok_counts[lo:hi] += part
        for (scope, want_corrected), seconds in self._seconds.items():
            if want_corrected == corrected and scope in (None, name):
                seconds.setdefault(t, new_counts())[lo:hi] += part
        part[:] = 0

    def check(self, now: float) -> AbortDecision | None:
        """Judge every rule due at `now` on the data so far; the first that fails, or None."""
        if not self._changed or self.through_t is None or self._first_t is None:
            return None
        self._changed = False
        self._forget_old_seconds()
        duration_s = self.through_t - self._first_t
        for rule, threshold in self._rules:
            if now - self.t0 < rule.delay_s:
                continue
            if threshold.window_share is not None:
                decision = self._check_share(rule, threshold)
                if decision is not None:
                    return decision
                continue
            observed = self._observe(threshold, duration_s)
            if observed is None:
                continue
            limit = threshold.to_base(threshold.limit)
            if not OPERATORS[threshold.op](observed, limit):
                shown = threshold.from_base(observed)
                unit = threshold.display_unit
                message = (
                    f"observed {shown:.4g}{unit} on the data through "
                    f"+{self.through_t - self.t0:.0f} s; limit {threshold.op} "
                    f"{threshold.limit:g}{unit}"
                )
                return AbortDecision(rule.expr, rule.source, message, shown, self.through_t)
        return self._check_budget(duration_s)

    def _observe(self, threshold: Threshold, duration_s: float) -> float | None:
        if threshold.window_s is not None:
            return self._observe_window(threshold)
        if threshold.scope is None:
            scope = self._totals
        elif threshold.scope in self._scopes:
            scope = self._scopes[threshold.scope]
        else:
            return None
        value = observe_scope(scope, duration_s, threshold)
        return None if isinstance(value, str) else value

    def _observe_window(self, threshold: Threshold) -> float | None:
        """The percentile over the last `window_s` whole seconds received."""
        assert threshold.window_s is not None and threshold.arg is not None
        seconds = self._seconds[(threshold.scope, threshold.name == "cp")]
        if not seconds:
            return None
        last = max(seconds)
        total = new_counts()
        for t in range(last - threshold.window_s + 1, last + 1):
            if t in seconds:
                total += seconds[t]
        if not total.any():
            return None
        return percentiles_from_counts(total, (threshold.arg,))[0] / 1000

    def _check_share(self, rule: AbortRule, threshold: Threshold) -> AbortDecision | None:
        """A share rule (`p(95)[10s,90%]`) fails once more of its windows have failed than
        the share allows over the whole planned run (so the run can no longer pass)."""
        assert threshold.window_s is not None and threshold.window_share is not None
        observed = self._observe_window(threshold)
        seconds = self._seconds[(threshold.scope, threshold.name == "cp")]
        if observed is None or not seconds or self._first_t is None:
            return None
        if max(seconds) - self._first_t + 1 < threshold.window_s:
            return None  # not a whole window yet: the summary does not count it either
        failed = self._failed_windows.setdefault(rule.expr, set())
        if not OPERATORS[threshold.op](observed, threshold.to_base(threshold.limit)):
            failed.add(max(seconds))
        planned = max(int(self.planned_s) - threshold.window_s + 1, 1)
        allowed = math.floor((1.0 - threshold.window_share) * planned + 1e-9)
        if len(failed) <= allowed:
            return None
        message = (
            f"{len(failed)} windows of {threshold.window_s} s failed through "
            f"+{(self.through_t or self.t0) - self.t0:.0f} s; "
            f"{fmt_number(threshold.window_share * 100)}% of the run's {planned} windows "
            f"allows at most {allowed}"
        )
        shown = threshold.from_base(observed)
        return AbortDecision(rule.expr, rule.source, message, shown, self.through_t or self.t0)

    def _forget_old_seconds(self) -> None:
        for seconds in self._seconds.values():
            if seconds:
                newest = max(seconds)
                for t in [t for t in seconds if t <= newest - self._keep_s - 5]:
                    del seconds[t]

    def budget_used(self, duration_s: float) -> float | None:
        """Failures since injection / the failures the success rate allows over the run,
        the run's requests projected to its planned length; None before the injection."""
        plan = self.plan
        if self.t_injected is None or plan.success_rate <= 0 or duration_s <= 0:
            return None
        requests = self._totals.requests * max(self.planned_s / duration_s, 1.0)
        allowed = (1.0 - plan.success_rate) * requests
        if allowed <= 0:
            return None if self.observed_failures == 0 else float("inf")
        return self.observed_failures / allowed

    def _check_budget(self, duration_s: float) -> AbortDecision | None:
        limit = self.plan.max_error_budget
        if limit is None:
            return None
        used = self.budget_used(duration_s)
        if used is None or used <= limit:
            return None
        assert self.through_t is not None
        expr = f"error_budget_used<={limit:g}"
        message = (
            f"the observation used {used:.2f}x its error budget ({self.observed_failures} "
            f"failures since the injection; success rate {self.plan.success_rate:g}); "
            f"limit {limit:g}x"
        )
        return AbortDecision(expr, "--max-error-budget", message, round(used, 4), self.through_t)
