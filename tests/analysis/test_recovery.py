"""Recovery figures from recorded data: RTO against ground truth, ttd, outage, RPO, breach."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.analysis import histograms
from harness.analysis.breach import measure_breach
from harness.analysis.data_loss import measure_data_loss
from harness.analysis.recovery import compute_recovery, error_budget_used, measure_recovery
from harness.analysis.steady_state import Timeline, evaluate, window_holds
from harness.analysis.timeseries import CountsDecoder
from harness.rundir import read_json, write_json_atomic
from harness.scenarios import PercentileLimit, SteadyState, load_scenario, scenario_to_dict
from harness.testing import make_run_dir

T0 = 1_700_000_000.0  # a whole second: slot k of the run starts at T0 + k / 10
PER_SLOT = 10  # 100 requests per second
VALUES_US = CountsDecoder().values_us
SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"


def timeline(
    total_s: float,
    failing: Sequence[tuple[float, float]] = (),
    silent: Sequence[tuple[float, float]] = (),
    slow_seconds: Sequence[int] = (),
    probe_failures: Sequence[float] = (),
) -> Timeline:
    """PER_SLOT requests per 100 ms slot from T0; all fail inside `failing` (offsets in s),
    none complete inside `silent`; `slow_seconds` (offsets) have 400 ms latency, others 20 ms."""
    n = round(total_s * 10)
    t = np.arange(n) / 10
    down = np.zeros(n, dtype=bool)
    for a, b in failing:
        down |= (t >= a - 1e-9) & (t < b - 1e-9)
    quiet = np.zeros(n, dtype=bool)
    for a, b in silent:
        quiet |= (t >= a - 1e-9) & (t < b - 1e-9)
    ok = np.where(down | quiet, 0, PER_SLOT)
    fail = np.where(down & ~quiet, PER_SLOT, 0)
    seconds = {}
    for s in range(int(np.ceil(total_s))):
        value_us = 400_000 if s in slow_seconds else 20_000
        hist = histograms.new_histogram()
        histograms.record_us(hist, value_us)
        counts = histograms.counts(hist).astype(np.int64)
        index = np.flatnonzero(counts)
        seconds[int(T0) + s] = (index, counts[index] * int(ok[s * 10 : s * 10 + 10].sum()))
    return Timeline(
        first_slot=round(T0 * 10),
        ok=ok.astype(np.int64),
        fail=fail.astype(np.int64),
        seconds=seconds,
        values_us=VALUES_US,
        probe_failures_t=np.asarray([T0 + p for p in probe_failures]),
    )


STEADY = SteadyState(success_rate=0.99, latency_ms=(PercentileLimit(95.0, 250.0),))


@pytest.mark.parametrize("inject_s", [10.0, 10.04, 10.37])
@pytest.mark.parametrize("down_s", [0.3, 1.0, 2.5, 4.2, 7.0])
def test_rto_matches_a_known_outage_within_200ms(inject_s: float, down_s: float) -> None:
    tl = timeline(40, failing=[(inject_s, inject_s + down_s)])
    result = measure_recovery(tl, STEADY, T0 + inject_s, T0 + inject_s + 20, window_s=3.0)
    assert result.rto_s is not None
    assert abs(result.rto_s - down_s) <= 0.2
    assert result.ttd_s is not None and result.ttd_s <= 0.1
    assert result.detected_by == "failure"
    assert abs(result.outage_s - down_s) <= 0.2


def test_no_visible_effect_means_rto_zero_and_nothing_detected() -> None:
    result = measure_recovery(timeline(30), STEADY, T0 + 10.05, T0 + 25, 3.0)
    assert result.rto_s == 0.0 and result.ttd_s is None and result.outage_s == 0.0


def test_a_relapse_pushes_recovery_past_it() -> None:
    # down 10..14, healthy 14..16.5 (shorter than nothing: it does not count), down again
    # 16.5..16.7: recovery starts after the relapse, not at 14.
    tl = timeline(40, failing=[(10, 14), (16.5, 16.7)])
    result = measure_recovery(tl, STEADY, T0 + 10, T0 + 30, 3.0)
    assert result.rto_s == pytest.approx(6.7, abs=0.01)
    assert result.outage_s == pytest.approx(6.7, abs=0.01)


def test_the_window_must_hold_until_the_observation_ends() -> None:
    # Healthy for 5 s after the outage, then down again until the end: never recovered.
    tl = timeline(40, failing=[(10, 12), (17, 40)])
    result = measure_recovery(tl, STEADY, T0 + 10, T0 + 30, 3.0)
    assert result.rto_s is None and result.t_recovered is None


def test_recovery_needs_one_full_window_before_the_observation_ends() -> None:
    tl = timeline(40, failing=[(10, 17.5)])
    assert measure_recovery(tl, STEADY, T0 + 10, T0 + 20.5, 3.0).rto_s == pytest.approx(7.5)
    assert measure_recovery(tl, STEADY, T0 + 10, T0 + 20.4, 3.0).rto_s is None
    # a longer window needs a longer healthy stretch
    assert measure_recovery(tl, STEADY, T0 + 10, T0 + 22, 5.0).rto_s is None


def test_observation_is_clamped_to_the_recorded_data() -> None:
    tl = timeline(15, failing=[(10, 11)])
    result = measure_recovery(tl, STEADY, T0 + 10, T0 + 30, 3.0)
    assert result.t_observe_end == pytest.approx(T0 + 15)
    assert result.rto_s == pytest.approx(1.0)


def test_silence_is_not_health() -> None:
    # A stopped process: nothing completes for 3 s, then it resumes with no failure at all.
    tl = timeline(40, silent=[(10, 13)])
    result = measure_recovery(tl, STEADY, T0 + 10, T0 + 30, 3.0)
    assert result.rto_s == pytest.approx(3.0)
    assert result.outage_s == 0.0


def test_sparse_traffic_is_not_silence() -> None:
    tl = timeline(40)
    tl.ok[:] = 0
    tl.ok[::5] = 1  # 2 requests per second: gaps of 0.4 s are normal
    tl.fail[:] = 0
    tl.fail[100:120:5] = 1  # the last failure completes in the slot at 11.5 s
    tl.ok[100:120] = 0
    result = measure_recovery(tl, SteadyState(success_rate=0.99), T0 + 10, T0 + 30, 3.0)
    assert result.rto_s == pytest.approx(1.6)
    strict = SteadyState(success_rate=0.99, max_silence_s=0.3)
    assert measure_recovery(tl, strict, T0 + 10, T0 + 30, 3.0).rto_s is None


def test_silence_rule_matches_a_brute_force_scan() -> None:
    rng = np.random.default_rng(7)
    tl = timeline(30)
    tl.ok[:] = rng.random(len(tl.ok)) < 0.6
    for run_s in (0.1, 0.3, 0.5):
        anything = SteadyState(success_rate=0.0, min_requests=0)
        first, last = tl.first_slot - 5, tl.first_slot + 290
        holds = window_holds(tl, anything, 1.0, first, last, max_silence_s=run_s)
        run = round(run_s * 10)
        padded = np.concatenate((np.zeros(5), tl.ok, np.zeros(10)))
        for i, ok in enumerate(holds):
            window = padded[i : i + 10]
            silent = any(not window[j : j + run].any() for j in range(10 - run + 1))
            assert ok == (not silent), (run_s, i)


def test_latency_breach_delays_recovery_to_the_end_of_its_second() -> None:
    # Failures end at 12.0; the second [12, 13) is slow (hung requests completing late).
    tl = timeline(40, failing=[(10, 12)], slow_seconds=[12])
    result = measure_recovery(tl, STEADY, T0 + 10, T0 + 30, 3.0)
    assert result.rto_s == pytest.approx(3.0)
    only_rate = SteadyState(success_rate=0.99)
    assert measure_recovery(tl, only_rate, T0 + 10, T0 + 30, 3.0).rto_s == pytest.approx(2.0)


def test_latency_only_fault_is_detected_by_latency() -> None:
    tl = timeline(40, slow_seconds=[11, 12])
    result = measure_recovery(tl, STEADY, T0 + 10.5, T0 + 30, 3.0)
    assert result.detected_by == "latency"
    assert result.ttd_s == pytest.approx(0.5)
    assert result.rto_s == pytest.approx(2.5)


def test_failed_probes_break_the_windows_they_fall_in() -> None:
    tl = timeline(40, failing=[(10, 11)], probe_failures=[14.25])
    result = measure_recovery(tl, STEADY, T0 + 10, T0 + 30, 3.0)
    assert result.rto_s == pytest.approx(4.3)


def test_detection_delay_is_time_to_the_first_failure() -> None:
    tl = timeline(40, failing=[(10.8, 13)])
    result = measure_recovery(tl, STEADY, T0 + 10, T0 + 30, 3.0)
    assert result.ttd_s == pytest.approx(0.8)
    assert result.outage_s == pytest.approx(2.2)
    assert result.rto_s == pytest.approx(3.0)


def test_success_rate_tolerance_is_respected() -> None:
    tl = timeline(40)
    rate_only = SteadyState(success_rate=0.99)
    tl.fail[150:151] = 3  # 3 failures among 300 requests of a window: 99.0% still holds
    holds = window_holds(tl, rate_only, 3.0, tl.first_slot, tl.first_slot + 200)
    assert holds.all()
    tl.fail[150:151] = 4
    holds = window_holds(tl, rate_only, 3.0, tl.first_slot, tl.first_slot + 200)
    assert not holds[125] and holds[151]


def test_evaluate_reports_reasons_for_the_live_steady_check() -> None:
    tl = timeline(20, failing=[(5, 6)], slow_seconds=[7])
    good = evaluate(tl, STEADY, T0 + 10, T0 + 15)
    assert good.ok and good.requests == 500 and good.detail().startswith("held")
    bad = evaluate(tl, STEADY, T0 + 4, T0 + 8)
    assert not bad.ok
    assert any("success rate 75.00% < 99.00%" in r for r in bad.reasons)
    assert any(r.startswith("p95 400.") for r in bad.reasons)
    empty = evaluate(tl, SteadyState(min_requests=1), T0 + 30, T0 + 33)
    assert empty.reasons == ("0 requests < min_requests 1",)


def test_error_budget_formula() -> None:
    assert error_budget_used(50, 10_000, 0.99) == (0.5, 100.0)
    assert error_budget_used(0, 10_000, 1.0) == (0.0, 0.0)
    assert error_budget_used(1, 10_000, 1.0) == (None, 0.0)
    assert error_budget_used(5, 10_000, 0.0)[0] is None


LEDGER = [
    {"key": "a", "seq": 1, "t_ack": 100.0},
    {"key": "b", "seq": 2, "t_ack": 104.0},
    {"key": "c", "seq": 3, "t_ack": 108.0},
    {"key": "d", "seq": 4, "t_ack": 111.0},
    {"key": "e", "seq": 5, "t_ack": 130.0},
]


def test_rpo_from_present_keys() -> None:
    loss = measure_data_loss(LEDGER, {"checked_at": 120.0, "present": ["a", "d"]}, 110.0)
    assert loss.acknowledged_writes == 4 and loss.unchecked_writes == 1
    assert loss.lost_writes == 2 and loss.lost_keys == ("b", "c")
    assert loss.rpo_s == 6.0 and loss.lost_after_injection == 0


def test_rpo_from_missing_keys_and_a_seq_map() -> None:
    by_missing = measure_data_loss(LEDGER, {"checked_at": 200.0, "missing": ["d", "zz"]}, 110.0)
    assert by_missing.lost_writes == 1 and by_missing.lost_after_injection == 1
    assert by_missing.rpo_s == 0.0, "lost after injection only: clamped to 0, counted apart"
    by_map = measure_data_loss(LEDGER, {"checked_at": 200.0, "present": {"a": 1, "b": 2}}, 110.0)
    assert by_map.lost_keys == ("c", "d", "e") and by_map.rpo_s == 2.0


def test_nothing_lost_means_rpo_zero_and_no_readback_means_unknown() -> None:
    keys = [r["key"] for r in LEDGER]
    assert measure_data_loss(LEDGER, {"checked_at": 200.0, "present": keys}, 110.0).rpo_s == 0.0
    unknown = measure_data_loss(LEDGER, None, 110.0)
    assert unknown.rpo_s is None and unknown.lost_writes is None
    assert unknown.acknowledged_writes == 5


def test_breach_containment_and_unauthorized_operations() -> None:
    tl = timeline(40, failing=[(21.0, 21.2)])
    leak = T0 + 10
    attacks: list[dict[str, Any]] = [
        {"t": leak + i * 0.5, "ok": i <= 8, "op": "POST /admin/tokens"} for i in range(20)
    ]
    runbook = [
        {"t": leak + 3.5, "action": "rotate_keys", "ok": True},
        {"t": leak + 4.0, "action": "revoke_kid", "ok": True},
    ]
    figures = measure_breach(attacks, leak, runbook, tl, 3.0)
    assert figures.forged_requests == 20 and figures.unauthorized_ok == 9
    assert figures.containment_s == 4.0
    assert figures.forged_ok_after_containment == 0
    assert figures.legit_requests_during_rotation == 360  # 13.5 s to 17.0 s, whole slots
    assert figures.legit_errors_during_rotation == 0
    late_ok: list[dict[str, Any]] = [
        *attacks,
        {"t": leak + 4.5, "ok": True},
        {"t": leak + 9.7, "ok": False},
    ]
    late = measure_breach(late_ok, leak, runbook, tl, 3.0)
    assert late.forged_ok_after_containment == 1 and late.containment_s == 4.5
    never = measure_breach([{"t": leak + 1, "ok": True}], leak, runbook, tl, 3.0)
    assert never.containment_s is None, "no refusal after the last success: not contained"
    rotation_errors = measure_breach([], leak, [{"t": T0 + 20, "ok": True}], tl, 3.0)
    assert rotation_errors.legit_errors_during_rotation == 20
    assert rotation_errors.containment_s == 0.0


def scenario_run(tmp_path: Path, down_s: float, lost_keys: int = 3) -> tuple[Path, object]:
    """A synthetic scenario run: injected at 10 s, failing for `down_s`, with a read-back."""
    scenario = load_scenario(SCENARIOS_DIR / "database-failover.toml")
    path = tmp_path / "run"
    run = make_run_dir(
        path,
        duration_s=32,
        rate_per_s=200,
        failure_windows=[(10.0, 10.0 + down_s, 1.0)],
        faults=[(10.0, 10.0 + down_s, "database_failover")],
        ledger_writes=200,
        lost_keys=lost_keys,
        kind="scenario",
        scenario=scenario.name,
        latency_ms=(20.0, 0.3),
        paced_interval_ms=None,
    )
    manifest = read_json(path / "run.json")
    manifest["config"] = {"scenario": scenario_to_dict(scenario)}
    write_json_atomic(path / "run.json", manifest)
    present = [k for k in run.ledger_keys if k not in set(run.lost_keys)]
    write_json_atomic(path / "readback.json", {"checked_at": T0 + 40, "present": present})
    with (path / "events.jsonl").open("a") as fh:
        for dt, action in ((12.0, "promote_standby"), (12.5, "repoint_service")):
            event = {"t": T0 + dt, "kind": "recovery_action", "action": action,
                     "detail": "synthetic", "ok": True}  # fmt: skip
            fh.write(json.dumps(event) + "\n")
    return path, run


def test_compute_recovery_on_a_synthetic_run_directory(tmp_path: Path) -> None:
    path, run = scenario_run(tmp_path, down_s=4.0)
    result = compute_recovery(path)
    assert json.loads(json.dumps(result)) == result, "plain JSON"
    assert result["t_injected"] == T0 + 10 and result["t_cleared"] == T0 + 14
    assert abs(result["rto_s"] - 4.0) <= 0.2
    assert result["ttd_s"] <= 0.1 and abs(result["outage_s"] - 4.0) <= 0.2
    assert result["window_s"] == 3.0 and result["steady_before"] is True
    ledger = [json.loads(line) for line in (path / "ledger.jsonl").read_text().splitlines()]
    lost_t = min(r["t_ack"] for r in ledger if r["key"] in run.lost_keys)  # type: ignore[attr-defined]
    assert result["lost_writes"] == 3 and result["acknowledged_writes"] == 200
    assert result["rpo_s"] == pytest.approx(T0 + 10 - lost_t, abs=1e-3)
    assert result["objectives"]["rto_s"] == 15 and result["objectives"]["p95_ms"] == 250
    assert result["verdicts"] == {"recovered": True, "rto": True, "rpo": True}
    assert [s["action"] for s in result["runbook"]] == ["promote_standby", "repoint_service"]
    assert result["runbook"][0]["t_rel_s"] == 2.0
    assert result["error_budget_used"] > 0 and result["containment_s"] is None
    assert result["warnings"] == []


def test_compute_recovery_fails_objectives_when_recovery_is_too_slow(tmp_path: Path) -> None:
    # observe_s 18 and a 3 s window: an outage of 16 s leaves no full healthy window.
    path, _ = scenario_run(tmp_path, down_s=16.0, lost_keys=0)
    result = compute_recovery(path)
    assert result["rto_s"] is None and result["t_recovered"] is None
    assert result["verdicts"] == {"recovered": False, "rto": False, "rpo": True}
    assert result["rpo_s"] == 0.0 and result["lost_writes"] == 0
    assert abs(result["outage_s"] - 16.0) <= 0.2


def test_compute_recovery_without_an_injection_or_a_stored_scenario(tmp_path: Path) -> None:
    path = tmp_path / "run"
    make_run_dir(path, duration_s=5, kind="scenario", scenario="x")
    result = compute_recovery(path)
    assert result["t_injected"] is None and result["rto_s"] is None
    assert result["verdicts"] == {"recovered": False}
    assert any("config.scenario" in w for w in result["warnings"])
    assert any("no fault_injected" in w for w in result["warnings"])
