"""Parse human durations such as `30s`, `2m`, `1h30m`, `250ms` into seconds."""

from __future__ import annotations

import math
import re

from harness.errors import ConfigError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|s|m|h)")
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration_s(
    text: str | float | int, where: str = "duration", *, allow_zero: bool = False
) -> float:
    """Return `text` in seconds; a bare number means seconds.

    Raises ConfigError naming `where` for anything else, and for negative values or (unless
    `allow_zero`, for a delay) zero.
    """
    if isinstance(text, bool):
        raise ConfigError(f"expected a duration such as 30s, 2m or 1h30m, got {text!r}", where)
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        raw = text.strip().lower()
        try:
            seconds = float(raw)
        except ValueError:
            pos = 0
            seconds = 0.0
            for match in _PART.finditer(raw):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_S[match.group(2)]
                pos = match.end()
            if pos != len(raw) or not raw:
                raise ConfigError(
                    f"expected a duration such as 30s, 2m or 1h30m, got {text!r}", where
                ) from None
    if not math.isfinite(seconds):
        raise ConfigError(f"expected a finite duration, got {text!r}", where)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        qualifier = "zero or more" if allow_zero else "positive"
        raise ConfigError(f"duration must be {qualifier}, got {text!r}", where)
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds compactly for humans: `1h02m03s`, `45.0s`, `250ms`."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
