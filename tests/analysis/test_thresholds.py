"""Threshold expressions: every documented form parses; malformed ones are refused loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.thresholds import (
    Threshold,
    ThresholdResult,
    evaluate,
    load_thresholds_file,
    parse_threshold,
    unique,
)
from harness.errors import ConfigError

VALID = [
    ("p(95)<250ms", None, "p(95)", "<", 250.0, "ms"),
    ("p(99.9)<1s", None, "p(99.9)", "<", 1.0, "s"),
    ("avg<100ms", None, "avg", "<", 100.0, "ms"),
    ("max<2s", None, "max", "<", 2.0, "s"),
    ("med<50ms", None, "med", "<", 50.0, "ms"),
    ("min>=1ms", None, "min", ">=", 1.0, "ms"),
    ("p(95)<250", None, "p(95)", "<", 250.0, "ms"),
    ("p(90) <= 900us", None, "p(90)", "<=", 900.0, "us"),
    ("max<1m", None, "max", "<", 1.0, "m"),
    ("cp(99)<400ms", None, "cp(99)", "<", 400.0, "ms"),
    ("p_corrected(99)<400ms", None, "cp(99)", "<", 400.0, "ms"),
    ("cmax<3s", None, "cmax", "<", 3.0, "s"),
    ("rps>800", None, "rps", ">", 800.0, "req/s"),
    ("rate>800", None, "rps", ">", 800.0, "req/s"),
    ("error_rate<1%", None, "error_rate", "<", 1.0, "%"),
    ("error_rate<0.01", None, "error_rate", "<", 0.01, ""),
    ("failures==0", None, "failures", "==", 0.0, ""),
    ("requests>100", None, "requests", ">", 100.0, ""),
    ("requests!=0", None, "requests", "!=", 0.0, ""),
    ("rto<30s", None, "rto", "<", 30.0, "s"),
    ("ttd<5s", None, "ttd", "<", 5.0, "s"),
    ("outage<10s", None, "outage", "<", 10.0, "s"),
    ("rpo==0", None, "rpo", "==", 0.0, "s"),
    ("rpo<5s", None, "rpo", "<", 5.0, "s"),
    ("lost_writes==0", None, "lost_writes", "==", 0.0, ""),
    ("containment<10s", None, "containment", "<", 10.0, "s"),
    ("unauthorized_ok==0", None, "unauthorized_ok", "==", 0.0, ""),
    ("forged_after_containment==0", None, "forged_after_containment", "==", 0.0, ""),
    ("GET /api/items: p(95)<100ms", "GET /api/items", "p(95)", "<", 100.0, "ms"),
    (
        "GET /api/items/{id:int}: error_rate<0.5%",
        "GET /api/items/{id:int}",
        "error_rate",
        "<",
        0.5,
        "%",
    ),
]


@pytest.mark.parametrize(("text", "scope", "metric", "op", "limit", "unit"), VALID)
def test_valid_expressions(
    text: str, scope: str | None, metric: str, op: str, limit: float, unit: str
) -> None:
    t = parse_threshold(text)
    assert (t.scope, t.metric, t.op, t.limit, t.unit) == (scope, metric, op, limit, unit)
    assert t.expr == text and t.relative_pct is None


def test_relative_limits() -> None:
    t = parse_threshold("p(95)<+10%")
    assert t.relative_pct == 10.0 and t.display_unit == "ms"
    assert parse_threshold("rps>-5%").relative_pct == -5.0
    assert parse_threshold("error_rate<+50%").relative_pct == 50.0


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("p(95)<", "missing the limit after '<'"),
        ("p(101)<1s", "percentile must be between 0 and 100, got 101"),
        ("foo<1", "unknown metric 'foo'"),
        ("p(95)<250xs", "unknown unit 'xs' for p"),
        ("error_rate<abc", "limit 'abc' is not a number"),
        ("GET /x: ", "missing the condition after 'GET /x:'"),
        ("", "empty threshold"),
        ("p(95) 250ms", "expected an operator"),
        ("p(95)=250ms", "expected an operator"),
        ("p(95)<<250ms", "malformed operator"),
        ("p<250ms", "p needs a percentile"),
        ("avg(3)<1s", "avg takes no argument"),
        ("p(x)<1s", "percentile 'x' is not a number"),
        ("p(95)<10%", "unknown unit '%' for p"),
        ("p(95)<+10ms", "relative to the baseline and must be a percentage"),
        ("error_rate<1ms", "unknown unit 'ms' for error_rate"),
        ("failures<1%", "unknown unit '%' for failures"),
        ("GET /x: rto<30s", "rto is measured for the whole run"),
        (": p(95)<1s", "empty request name"),
    ],
)
def test_malformed_expressions_name_the_expression_and_the_problem(
    text: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_threshold(text, "--threshold")
    message = str(caught.value)
    assert complaint in message
    assert f"--threshold {text!r}" in message


class _Fixed:
    def __init__(self, values: dict[str, float | str]) -> None:
        self.values = values

    def observe(self, threshold: Threshold) -> float | str:
        return self.values[threshold.name]


def _one(
    text: str, run: dict[str, float | str], base: dict[str, float | str] | None = None
) -> ThresholdResult:
    baseline = None if base is None else _Fixed(base)
    return evaluate([parse_threshold(text)], _Fixed(run), baseline)[0]


def test_messages_in_the_thresholds_unit() -> None:
    failing = _one("p(95)<250ms", {"p": 312.4})
    assert not failing.ok and failing.message == "observed 312.4 ms > limit 250 ms"
    holding = _one("p(95)<250ms", {"p": 120.0})
    assert holding.ok and holding.message == "observed 120 ms < limit 250 ms"
    seconds = _one("p(99.9)<1s", {"p": 1250.0})
    assert (seconds.observed, seconds.limit, seconds.ok) == (1.25, 1.0, False)
    percent = _one("error_rate<1%", {"error_rate": 0.002})
    assert percent.ok and percent.observed == pytest.approx(0.2)
    assert percent.message == "observed 0.2% < limit 1%"
    assert _one("failures==0", {"failures": 0.0}).message == "observed 0 == limit 0"
    assert _one("rps>800", {"rps": 812.5}).message == "observed 812.5 req/s > limit 800 req/s"


def test_unmeasured_values_fail_with_the_reason() -> None:
    result = _one("rto<30s", {"rto": "rto not measured"})
    assert not result.ok and result.message == "rto not measured" and result.observed is None


def test_relative_limits_against_a_baseline() -> None:
    worse = _one("p(95)<+10%", {"p": 120.0}, {"p": 100.0})
    assert not worse.ok and worse.limit == pytest.approx(110.0) and worse.baseline == 100.0
    assert "baseline 100 ms +10%" in worse.message
    assert _one("p(95)<+10%", {"p": 105.0}, {"p": 100.0}).ok
    assert _one("rps>-5%", {"rps": 96.0}, {"rps": 100.0}).ok
    assert not _one("rps>-5%", {"rps": 94.0}, {"rps": 100.0}).ok
    with pytest.raises(ConfigError, match=r"'p\(95\)<\+10%'.*needs a baseline run"):
        _one("p(95)<+10%", {"p": 1.0})


def test_thresholds_file_toml_and_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    toml = tmp_path / "t.toml"
    toml.write_text('thresholds = ["p(95)<250ms", "error_rate<1%"]\n')
    assert [t.metric for t in load_thresholds_file(toml)] == ["p(95)", "error_rate"]
    lines = tmp_path / "thresholds.txt"
    lines.write_text("# gate\np(95)<250ms\n\nGET /x: rps>5  # slow route\n")
    parsed = load_thresholds_file(lines)
    assert [(t.scope, t.metric) for t in parsed] == [(None, "p(95)"), ("GET /x", "rps")]
    assert parsed[0].source == str(lines)
    bad = tmp_path / "bad.toml"
    bad.write_text("thresholds = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_thresholds_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_thresholds_file(tmp_path / "missing.txt")


def test_a_thresholds_file_takes_a_scenario_files_abort_tables(tmp_path: Path) -> None:
    """docs/thresholds.md: "a scenario file works as is", k6-style tables included."""
    toml = tmp_path / "s.toml"
    toml.write_text(
        'thresholds = ["rto<30s", { threshold = "p(95)[10s,90%]<500ms", abort_on_fail = true,'
        ' delay_abort_eval = "10s" }]\n'
    )
    parsed = load_thresholds_file(toml)
    assert [(t.name, t.window_s) for t in parsed] == [("rto", None), ("p", 10)]
    toml.write_text('thresholds = [{ threshold = "p(95)<1s", abort_on_fail = "yes" }]\n')
    with pytest.raises(ConfigError, match=r"s\.toml: thresholds\[0\]\.abort_on_fail: expected"):
        load_thresholds_file(toml)
    toml.write_text('name = "x"\n')
    with pytest.raises(ConfigError, match=r"expected `thresholds = "):
        load_thresholds_file(toml)


def test_duplicates_are_dropped() -> None:
    parsed = [parse_threshold(t) for t in ("p(95)<250ms", "p(95) < 0.25s", "p(95)<251ms")]
    assert [t.expr for t in unique(parsed)] == ["p(95)<250ms", "p(95)<251ms"]
