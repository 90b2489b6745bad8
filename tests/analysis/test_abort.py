"""Abort rules: the `thresholds` array's k6 tables, and the live judge on merged lines
(the same figures as summary.json on the same seconds, windows, delay, error budget)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.aborts import AbortPlan, AbortRule, flag_rules, stored_entries, threshold_entries
from harness.analysis.abort import LiveJudge, ensure_abortable
from harness.errors import ConfigError
from harness.rundir.histograms import encode, new_histogram, record_us

T0 = 1_000.0


def line(
    t: int, latency_ms: float, ok: int = 20, failed: int = 0, name: str = "GET /"
) -> dict[str, Any]:
    """A merged intervals.jsonl line: `ok` successes of `latency_ms`, `failed` failures
    spread over its 100 ms slots."""
    hist = new_histogram()
    for _ in range(ok):
        record_us(hist, int(latency_ms * 1000))
    fine_fail = [failed // 10 + (1 if i < failed % 10 else 0) for i in range(10)]
    return {"t": float(t), "dt_s": 1.0, "name": name, "requests": ok + failed,
            "failures": failed, "hdr": encode(hist), "hdr_corrected": None,
            "fine_fail": fine_fail}  # fmt: skip


def judge(*rules: AbortRule, budget: float | None = None, planned_s: float = 60.0) -> LiveJudge:
    return LiveJudge(AbortPlan(rules, budget, 0.99 if budget else 0.0), T0, planned_s)


def test_tables_and_strings_in_a_thresholds_array() -> None:
    exprs, rules = threshold_entries(
        ["rps>1", {"threshold": "p(95)<500ms", "abort_on_fail": True, "delay_abort_eval": "10s"},
         {"threshold": "error_rate<1%"}],
        "f.toml: thresholds",
    )  # fmt: skip
    assert exprs == ("rps>1", "p(95)<500ms", "error_rate<1%")
    assert rules == (AbortRule("p(95)<500ms", 10.0, "f.toml: thresholds"),)
    again = threshold_entries(stored_entries(exprs, rules), "f.toml: thresholds")
    assert again == (exprs, rules)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"threshold": "p(95)<1s", "abort_on_fail": "yes"},
         "f.toml: thresholds[0].abort_on_fail: expected true or false"),
        ({"threshold": "p(95)<1s", "abort": True}, "f.toml: thresholds[0].abort: unknown key"),
        ({"abort_on_fail": True}, "f.toml: thresholds[0].threshold: expected a threshold"),
        ({"threshold": "p(95)<1s", "delay_abort_eval": "5s"},
         "f.toml: thresholds[0].delay_abort_eval: only meaningful with abort_on_fail"),
        ({"threshold": "p(95)<1s", "abort_on_fail": True, "delay_abort_eval": "soon"},
         "f.toml: thresholds[0].delay_abort_eval"),
        (3, "f.toml: thresholds[0]: expected an expression or a table"),
    ],
)  # fmt: skip
def test_bad_abort_syntax_names_the_entry_and_key(entry: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        threshold_entries([entry], "f.toml: thresholds")
    assert str(caught.value).startswith(message)


def test_only_load_metrics_with_absolute_limits_can_abort() -> None:
    with pytest.raises(ConfigError, match="rto is known only after the run"):
        ensure_abortable(AbortRule("rto<30s"))
    with pytest.raises(ConfigError, match="absolute limit"):
        ensure_abortable(AbortRule("p(95)<+10%"))
    with pytest.raises(ConfigError, match="--abort-on-fail: applies to --threshold"):
        flag_rules((), True, None)
    with pytest.raises(ConfigError, match="--delay-abort-eval: only meaningful"):
        flag_rules(("p(95)<1s",), False, "5s")
    assert flag_rules(("p(95)<1s",), True, "5s") == (AbortRule("p(95)<1s", 5.0, "--threshold"),)


def test_a_delay_of_zero_means_judged_from_the_first_second() -> None:
    assert flag_rules(("p(95)<1s",), True, "0s")[0].delay_s == 0.0
    table = {"threshold": "p(95)<1s", "abort_on_fail": True, "delay_abort_eval": "0s"}
    assert threshold_entries([table], "f.toml: thresholds")[1][0].delay_s == 0.0
    with pytest.raises(ConfigError, match="zero or more"):
        flag_rules(("p(95)<1s",), True, "-1")


def test_a_percentile_rule_fails_on_the_first_data_that_breaks_it() -> None:
    live = judge(AbortRule("p(95)<100ms"))
    for t in range(1000, 1010):
        live.observe_line(line(t, 10.0))
    assert live.check(T0 + 10) is None
    live.observe_line(line(1010, 900.0, ok=1))  # 1 slow of 201: p95 still fast
    assert live.check(T0 + 11) is None
    live.observe_line(line(1011, 900.0, ok=20))  # 21 slow of 221: p95 is 900 ms
    decision = live.check(T0 + 12)
    assert decision is not None and decision.through_t == 1012.0
    assert decision.observed == pytest.approx(900.0, rel=1e-3)
    assert "limit < 100ms" in decision.message


def test_a_rule_is_not_judged_before_its_delay_nor_without_new_data() -> None:
    live = judge(AbortRule("error_rate<10%", delay_s=5.0))
    live.observe_line(line(1000, 10.0, ok=5, failed=5))
    assert live.check(T0 + 2) is None  # within the delay
    assert live.check(T0 + 6) is None  # nothing new since the last check
    live.observe_line(line(1001, 10.0, ok=5, failed=5))
    decision = live.check(T0 + 6)
    assert decision is not None and decision.observed == pytest.approx(50.0)


def test_a_window_rule_judges_the_last_whole_seconds_only() -> None:
    live = judge(AbortRule("p(95)[3s]<100ms"), AbortRule("GET /b: p(99)<1s"))
    for t in range(1000, 1003):
        live.observe_line(line(t, 500.0))  # slow at the start ...
    assert live.check(T0 + 3) is not None
    for t in range(1003, 1006):
        live.observe_line(line(t, 10.0))  # ... then fast for a whole window
    assert live.check(T0 + 6) is None  # cumulative p95 is slow, the last 3 s are not
    live.observe_line(line(1006, 2000.0, name="GET /b"))  # a name's own rule
    decision = live.check(T0 + 7)
    assert decision is not None and decision.expr == "p(95)[3s]<100ms"  # first rule first


def test_the_error_budget_counts_failures_from_the_injection_on() -> None:
    live = judge(budget=2.0, planned_s=20.0)
    for t in range(1000, 1005):
        live.observe_line(line(t, 10.0, ok=100))  # 500 requests in 5 s: 2,000 projected
    live.observe_event({"kind": "fault_injected", "t": 1005.5})
    # allowed: 1% of the projection; failures before 1005.5 do not count
    live.observe_line(line(1005, 10.0, ok=90, failed=10))  # 5 of them after 1005.5
    assert live.check(T0 + 6) is None
    used = live.budget_used(6.0)
    assert live.observed_failures == 5 and used == pytest.approx(5 / (0.01 * 600 * 20 / 6))
    live.observe_line(line(1006, 10.0, ok=50, failed=50))
    decision = live.check(T0 + 7)
    assert decision is not None and decision.source == "--max-error-budget"
    assert decision.expr == "error_budget_used<=2" and decision.observed > 2


def test_a_share_rule_aborts_once_the_run_can_no_longer_pass() -> None:
    # 20 s planned, windows of 3 s: 18 windows; 90% of them must hold, so 1 may fail
    live = judge(AbortRule("p(95)[3s,90%]<100ms"), planned_s=20.0)
    for t in range(1000, 1003):
        live.observe_line(line(t, 10.0))
        assert live.check(T0 + t - 999) is None
    live.observe_line(line(1003, 500.0))  # the window 1001-1003 fails: 1 of 1 allowed
    assert live.check(T0 + 4) is None
    live.observe_line(line(1004, 10.0))  # 1002-1004 still holds the slow second: 2 failed
    decision = live.check(T0 + 5)
    assert decision is not None and decision.expr == "p(95)[3s,90%]<100ms"
    assert "2 windows of 3 s failed" in decision.message and "at most 1" in decision.message


def test_a_share_rule_waits_for_a_whole_window() -> None:
    live = judge(AbortRule("p(95)[5s,50%]<100ms"), planned_s=6.0)  # 2 windows, 1 may fail
    for t in range(1000, 1004):
        live.observe_line(line(t, 500.0))
        assert live.check(T0 + t - 999) is None  # no whole window of 5 s yet
    live.observe_line(line(1004, 500.0))
    assert live.check(T0 + 5) is None  # the first window failed: allowed
    live.observe_line(line(1005, 500.0))
    assert live.check(T0 + 6) is not None
