"""How the report writes numbers: milliseconds to 3 significant digits, rates, shares, times.

Every function takes None (or NaN) and returns an em dash, so templates never test for it.
"""

from __future__ import annotations

import math
import time

DASH = "—"


def _missing(value: float | int | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt_ms(value_ms: float | None) -> str:
    """`0.412 ms`, `12.3 ms`, `231 ms`, `1.23 s`: three significant digits."""
    if _missing(value_ms):
        return DASH
    assert value_ms is not None
    if value_ms >= 1000:
        return f"{_sig3(value_ms / 1000)} s"
    return f"{_sig3(value_ms)} ms"


def _sig3(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_count(value: float | int | None) -> str:
    """`1,234,567`."""
    if _missing(value):
        return DASH
    assert value is not None
    return f"{round(value):,}"


def fmt_rate(value_per_s: float | None) -> str:
    """`1,234.5/s`."""
    if _missing(value_per_s):
        return DASH
    assert value_per_s is not None
    return f"{value_per_s:,.1f}/s"


def fmt_share(fraction: float | None) -> str:
    """A fraction as a percentage: `0%`, `<0.01%`, `0.52%`, `12.3%`."""
    if _missing(fraction):
        return DASH
    assert fraction is not None
    pct = fraction * 100
    if pct == 0:
        return "0%"
    if pct < 0.01:
        return "<0.01%"
    if pct < 10:
        return f"{pct:.2f}%"
    return f"{pct:.1f}%"


def fmt_seconds(value_s: float | None) -> str:
    """`0.25 s`, `12.3 s`, `4m05s`, `1h02m03s`."""
    if _missing(value_s):
        return DASH
    assert value_s is not None
    if value_s < 60:
        return f"{_sig3(value_s)} s"
    whole = round(value_s)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def fmt_clock(epoch_s: float | None) -> str:
    """`2026-11-26 10:15:00 UTC`."""
    if _missing(epoch_s):
        return DASH
    assert epoch_s is not None
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch_s))


def fmt_offset(offset_s: float | None) -> str:
    """Seconds since the run started: `+0:07.3`, `+12:30.0`, `+1:02:03`."""
    if _missing(offset_s):
        return DASH
    assert offset_s is not None
    sign = "-" if offset_s < 0 else "+"
    value = abs(offset_s)
    hours, rest = divmod(value, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 1:
        return f"{sign}{int(hours)}:{int(minutes):02d}:{int(secs):02d}"
    return f"{sign}{int(minutes)}:{secs:04.1f}"


def fmt_value(value: float | int | None, unit: str | None) -> str:
    """A threshold's value in its unit: `ms`, `s`, `%`, `req/s`, or none."""
    if _missing(value):
        return DASH
    assert value is not None
    unit = unit or ""
    if unit == "ms":
        return fmt_ms(float(value))
    if unit == "s":
        return fmt_seconds(float(value))
    if unit == "us":
        return fmt_ms(float(value) / 1000)
    if unit == "m":
        return fmt_seconds(float(value) * 60)
    if unit == "%":
        return f"{_sig3(float(value))}%"
    if unit in ("req/s", "/s", "rps"):
        return fmt_rate(float(value))
    if isinstance(value, int) or float(value).is_integer():
        text = f"{int(value):,}"
    else:
        text = _sig3(float(value))
    return f"{text} {unit}".strip()


def fmt_change(current: float | None, limit: float | None) -> str:
    """How far `current` is from `limit`, relative: `+25%`, `-3.1%`, or `` when unknown."""
    if _missing(current) or _missing(limit) or not limit:
        return ""
    assert current is not None and limit is not None
    change = (current - limit) / abs(limit) * 100
    return f"{change:+.0f}%" if abs(change) >= 10 else f"{change:+.1f}%"
