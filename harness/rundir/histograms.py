"""HdrHistogram helpers shared by the recorder (workers) and the analysis.

One configuration for the whole project, so every histogram can be added to every other:
integer microseconds, 1 us to 120 s, 3 significant digits. `record_us` reports values that
fall outside that range instead of dropping them silently (hdrh's `record_value` returns
False rather than raising).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000
SIGNIFICANT_FIGURES = 3


def new_histogram() -> HdrHistogram:
    """An empty histogram in the project's one configuration."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def record_us(hist: HdrHistogram, value_us: int, expected_interval_us: int = 0) -> bool:
    """Record one value; return False when it had to be clipped into range.

    A clipped value is still counted, at the nearest end of the range, so totals stay
    exact; the caller counts the clip. With `expected_interval_us` > 0 the value is
    recorded with HdrHistogram's coordinated-omission correction.
    """
    clipped = False
    if value_us < LOWEST_US:
        value_us, clipped = LOWEST_US, value_us < 0
    elif value_us > HIGHEST_US:
        value_us, clipped = HIGHEST_US, True
    if expected_interval_us > 0:
        ok = hist.record_corrected_value(value_us, expected_interval_us)
    else:
        ok = hist.record_value(value_us)
    if not ok:  # pragma: no cover - range is enforced above; kept as a guard
        raise ValueError(f"histogram refused value {value_us} us")
    return not clipped


def encode(hist: HdrHistogram) -> str:
    """HdrHistogram's standard compressed base64 encoding (V2)."""
    blob = hist.encode()
    return blob.decode("ascii") if isinstance(blob, bytes) else str(blob)


def decode(blob: str) -> HdrHistogram:
    """Inverse of `encode`."""
    return HdrHistogram.decode(blob)


def merge(blobs: Iterable[str | None]) -> HdrHistogram:
    """Exact sum of encoded histograms (None entries are skipped)."""
    total = new_histogram()
    for blob in blobs:
        if blob:
            total.decode_and_add(blob)
    return total


def add_into(total: HdrHistogram, other: HdrHistogram) -> None:
    """Add `other` into `total` exactly (counts are summed bucket by bucket)."""
    total.add(other)


@lru_cache(maxsize=4)
def _bucket_values(counts_len: int, lowest: int, highest: int, sig: int) -> np.ndarray:
    proto = HdrHistogram(lowest, highest, sig)
    values = np.empty(counts_len, dtype=np.int64)
    for index in range(counts_len):
        values[index] = proto.get_highest_equivalent_value(proto.get_value_from_index(index))
    return values


def counts(hist: HdrHistogram) -> np.ndarray:
    """The histogram's bucket counts as a numpy view (no copy)."""
    return np.ctypeslib.as_array(hist.counts)


def bucket_values_us(hist: HdrHistogram) -> np.ndarray:
    """For each bucket index, the highest value equivalent to it (what hdrh reports)."""
    return _bucket_values(
        hist.counts_len,
        hist.lowest_trackable_value,
        hist.highest_trackable_value,
        hist.significant_figures,
    )


def percentiles_us(hist: HdrHistogram, pcts: Sequence[float]) -> dict[float, int]:
    """Values at the given percentiles, as hdrh's `get_value_at_percentile` defines them.

    Vectorised with numpy: one cumulative sum instead of a Python loop per percentile.
    Returns 0 for every percentile of an empty histogram.
    """
    total = hist.get_total_count()
    if total == 0:
        return {p: 0 for p in pcts}
    cumulative = np.cumsum(counts(hist))
    values = bucket_values_us(hist)
    out: dict[float, int] = {}
    for p in pcts:
        target = max(int(min(p, 100.0) * total / 100 + 0.5), 1)
        index = int(np.searchsorted(cumulative, target, side="left"))
        out[p] = int(values[min(index, len(values) - 1)])
    return out
