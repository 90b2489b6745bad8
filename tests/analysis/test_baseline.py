"""Baseline deltas and regression flags."""

from __future__ import annotations

from typing import Any

import pytest

from harness.analysis.baseline import compare


def _metrics(p95: float, rps: float, error_rate: float, p50: float = 10.0) -> dict[str, Any]:
    latency = {"p50": p50, "p95": p95, "p99": p95 * 1.5, "p99.9": p95 * 2, "max": p95 * 3}
    return {"rps": rps, "error_rate": error_rate, "latency_ms": latency}


def _summary(run_id: str, totals: dict[str, Any], **endpoints: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": run_id, "totals": totals, "endpoints": endpoints}


def test_percentage_deltas_and_flags() -> None:
    base = _summary(
        "base",
        _metrics(100.0, 1000.0, 0.01),
        a=_metrics(50.0, 10.0, 0.0),
        gone=_metrics(1.0, 1.0, 0.0),
    )
    now = _summary(
        "now",
        _metrics(115.0, 850.0, 0.0105),
        a=_metrics(54.0, 10.5, 0.0005),
        new=_metrics(1.0, 1.0, 0.0),
    )
    result = compare(now, base)
    totals = result["totals"]
    assert totals["p95"] == {
        "current": 115.0,
        "baseline": 100.0,
        "delta_pct": pytest.approx(15.0),
        "regression": True,
    }
    assert totals["p50"]["delta_pct"] == 0.0 and not totals["p50"]["regression"]
    assert totals["rps"]["delta_pct"] == pytest.approx(-15.0) and totals["rps"]["regression"]
    # +5% error rate and a rise below 0.1 percentage point: not a regression
    assert not totals["error_rate"]["regression"]
    endpoint = result["endpoints"]["a"]
    assert endpoint["p95"]["delta_pct"] == pytest.approx(8.0) and not endpoint["p95"]["regression"]
    assert endpoint["error_rate"]["delta_pct"] is None  # baseline 0
    assert not endpoint["error_rate"]["regression"]  # 0.05 pp: below the floor
    assert set(result["endpoints"]) == {"a"}
    assert (result["only_in_run"], result["only_in_baseline"]) == (["new"], ["gone"])
    assert result["regression"] is True and result["run_id"] == "base"
    assert result["regressions"] == [
        "totals p95 +15.0%",
        "totals p99 +15.0%",
        "totals p99.9 +15.0%",
        "totals rps -15.0%",
    ]


def test_error_rate_from_zero_and_tolerance() -> None:
    base = _summary("base", _metrics(100.0, 100.0, 0.0))
    now = _summary("now", _metrics(100.0, 100.0, 0.02))
    result = compare(now, base)
    assert result["totals"]["error_rate"]["regression"]
    assert result["regressions"] == ["totals error_rate 0.00% -> 2.00%"]
    assert not compare(now, base, tolerance_pct=10.0)["totals"]["rps"]["regression"]
    slower = _summary("slower", _metrics(125.0, 100.0, 0.0))
    assert not compare(slower, base, tolerance_pct=30.0)["regression"]


def test_missing_values_are_not_regressions() -> None:
    base = _summary("base", {"rps": 10.0, "error_rate": 0.0, "latency_ms": None})
    now = _summary("now", _metrics(100.0, 10.0, 0.0))
    result = compare(now, base)
    assert result["totals"]["p95"] == {
        "current": 100.0,
        "baseline": None,
        "delta_pct": None,
        "regression": False,
    }
    assert result["regression"] is False
