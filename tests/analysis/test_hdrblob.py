"""The fast blob codec agrees with hdrh bucket for bucket."""

from __future__ import annotations

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from harness.analysis import histograms
from harness.analysis.hdrblob import (
    BlobDecoder,
    BlobEncoder,
    HistogramSums,
    bucket_bounds_us,
    bucket_indexes,
    new_counts,
    percentiles_from_counts,
    stats_us,
)


@pytest.fixture(scope="module")
def values_us() -> np.ndarray:
    rng = np.random.default_rng(7)
    tail = rng.integers(1, histograms.HIGHEST_US, 2000)
    return np.concatenate([np.arange(1, 5000), tail, [histograms.HIGHEST_US]]).astype(np.int64)


def test_bucket_indexes_match_hdrh(values_us: np.ndarray) -> None:
    hist = histograms.new_histogram()
    expected = [hist._counts_index_for(int(v)) for v in values_us]
    assert bucket_indexes(values_us).tolist() == expected


def test_bucket_bounds_match_hdrh() -> None:
    hist = histograms.new_histogram()
    lowest, highest = bucket_bounds_us()
    for index in [*range(0, 4100, 7), hist.counts_len - 1]:
        value = hist.get_value_from_index(index)
        assert lowest[index] == hist.get_lowest_equivalent_value(value)
        assert highest[index] == hist.get_highest_equivalent_value(value)


def test_encode_then_decode_round_trips_through_hdrh(values_us: np.ndarray) -> None:
    blob = BlobEncoder().encode_values(values_us)
    assert blob is not None
    reference = histograms.new_histogram()
    for value in values_us:
        reference.record_value(int(value))
    assert np.array_equal(histograms.counts(histograms.decode(blob)), histograms.counts(reference))
    total = new_counts()
    assert BlobDecoder().add_into(total, histograms.encode(reference)) == len(values_us)
    assert BlobDecoder().add_into(total, blob) == len(values_us)
    assert np.array_equal(total, 2 * histograms.counts(reference))


def test_percentiles_and_stats_match_hdrh(values_us: np.ndarray) -> None:
    hist = histograms.new_histogram()
    for value in values_us[::3]:
        hist.record_value(int(value))
    pcts = (0.0, 50.0, 95.0, 99.0, 99.9, 100.0)
    got = percentiles_from_counts(histograms.counts(hist), pcts)
    assert got == [hist.get_value_at_percentile(p) for p in pcts]
    low, high, mean, total = stats_us(histograms.counts(hist))
    assert (low, high, total) == (hist.get_min_value(), hist.get_max_value(), len(values_us[::3]))
    assert mean == pytest.approx(hist.get_mean_value(), rel=1e-12)


def test_foreign_configuration_is_re_recorded() -> None:
    other = HdrHistogram(1, 60_000_000, 2)
    for value in (5, 500, 50_000):
        other.record_value(value)
    total = new_counts()
    assert BlobDecoder().add_into(total, histograms.encode(other)) == 3
    assert int(total.sum()) == 3


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError):
        BlobDecoder().add_into(new_counts(), "bm90IGEgaGlzdG9ncmFt")


def test_batched_sums_equal_one_by_one_decoding() -> None:
    rng = np.random.default_rng(3)
    encoder, reference, sums = BlobEncoder(), [new_counts() for _ in range(3)], HistogramSums(64)
    slots = [sums.new_slot() for _ in range(3)]
    for i in range(500):
        values = rng.lognormal(np.log(rng.uniform(100, 2e6)), 1.0, rng.integers(1, 200))
        values = np.clip(values.astype(np.int64), 1, histograms.HIGHEST_US)
        where, how_many = np.unique(bucket_indexes(values), return_counts=True)
        blob = encoder.encode(where, how_many * (10**9 if i % 50 == 0 else 1))  # long varints
        assert blob is not None
        sums.add(slots[i % 3], blob)
        BlobDecoder().add_into(reference[i % 3], blob)
    assert all(np.array_equal(sums.counts(s), reference[s]) for s in slots)


def test_batched_sums_fall_back_for_nine_byte_varints() -> None:
    huge = BlobEncoder().encode(np.array([5, 900]), np.array([2**57, 3]))
    assert huge is not None
    sums = HistogramSums()
    slot = sums.new_slot()
    sums.add(slot, huge)
    counts = sums.counts(slot)
    assert (int(counts[5]), int(counts[900]), int(counts.sum())) == (2**57, 3, 2**57 + 3)
