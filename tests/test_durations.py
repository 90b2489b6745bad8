"""Durations as users type them."""

import pytest

from harness.durations import format_duration, parse_duration_s
from harness.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("45", 45.0),
        (10, 10.0),
        ("1m30s", 90.0),
    ],
)
def test_parses_common_forms(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "abc", "30x", "s30", "-5s", "0s", "1m 30s", "30s5", "inf", "nan", float("inf")]
)
def test_rejects_bad_input_with_a_named_place(text: str | float) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration_s(text, where="--duration")
    assert "--duration" in str(info.value)


def test_formats_for_humans() -> None:
    assert format_duration(0.25) == "250ms"
    assert format_duration(12.34) == "12.3s"
    assert format_duration(3723) == "1h02m03s"
