"""The HdrHistogram configuration; it lives in harness.rundir.histograms (the contract)."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

from harness.rundir.histograms import (
    HIGHEST_US,
    LOWEST_US,
    SIGNIFICANT_FIGURES,
    add_into,
    bucket_values_us,
    counts,
    decode,
    encode,
    merge,
    new_histogram,
    percentiles_us,
    record_us,
)

__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "SIGNIFICANT_FIGURES",
    "HdrHistogram",
    "add_into",
    "bucket_values_us",
    "counts",
    "decode",
    "encode",
    "merge",
    "new_histogram",
    "percentiles_us",
    "record_us",
]
