"""The HdrHistogram blob codec; it lives in harness.rundir.hdr (the run directory's contract)."""

from __future__ import annotations

from harness.rundir.hdr import (
    COUNTS_LEN,
    BlobDecoder,
    BlobEncoder,
    HistogramSums,
    bucket_bounds_us,
    bucket_indexes,
    new_counts,
    percentiles_from_counts,
    stats_us,
)

__all__ = [
    "COUNTS_LEN",
    "BlobDecoder",
    "BlobEncoder",
    "HistogramSums",
    "bucket_bounds_us",
    "bucket_indexes",
    "new_counts",
    "percentiles_from_counts",
    "stats_us",
]
