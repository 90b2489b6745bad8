"""The recorder: Locust request events in, per-second encoded buckets out."""

from __future__ import annotations

import pytest

from harness.analysis.histograms import HIGHEST_US, decode
from harness.load.recorder import PACING_KEY, IntervalRecorder, failure_kind


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def test_successes_failures_and_fine_slots() -> None:
    clock = FakeClock(100.05)
    rec = IntervalRecorder(clock)
    rec.on_request("GET", "/a", 12.3456, 100)
    clock.t = 100.95
    rec.on_request("GET", "/a", 20.0, 50, exception=RuntimeError("x"), response=Response(503))
    clock.t = 101.5
    rec.on_request("GET", "/a", 1.0, 10, exception=ConnectionRefusedError())
    (first,) = rec.take()  # second 100 is over; 101 is still going
    assert first["t"] == 100 and first["name"] == "GET /a"
    assert (first["requests"], first["failures"], first["bytes"]) == (2, 1, 150)
    assert first["fine_ok"][0] == 1 and first["fine_fail"][9] == 1
    assert first["errors"] == {"503": 1}
    assert first["hdr_corrected"] is None
    ok = decode(first["hdr"])
    assert ok.get_total_count() == 1
    assert ok.get_max_value() == pytest.approx(12_346, rel=1e-3)  # integer microseconds
    assert decode(first["hdr_fail"]).get_total_count() == 1
    (partial,) = rec.take(final=True)
    assert partial["t"] == 101 and partial["errors"] == {"ConnectionRefusedError": 1}
    assert partial["hdr"] is None and partial["fine_fail"][5] == 1
    assert rec.take(final=True) == []


def test_paced_requests_get_a_corrected_histogram() -> None:
    clock = FakeClock(10.0)
    rec = IntervalRecorder(clock)
    rec.on_request("GET", "/p", 5.0, 0, context={PACING_KEY: 0})
    rec.on_request("GET", "/p", 1_000.0, 0, context={PACING_KEY: 200_000})  # a 1 s stall
    (entry,) = rec.take(final=True)
    plain, corrected = decode(entry["hdr"]), decode(entry["hdr_corrected"])
    assert plain.get_total_count() == 2
    # the 1 s response hid four more sends that were due every 200 ms: 800, 600, 400, 200 ms
    assert corrected.get_total_count() == 6
    assert corrected.get_value_at_percentile(0) == pytest.approx(5_000, rel=1e-3)


def test_clipped_values_are_counted() -> None:
    rec = IntervalRecorder(FakeClock(5.0))
    rec.record("GET /x", 5.0, HIGHEST_US * 2)
    rec.record("GET /x", 5.0, 100)
    (entry,) = rec.take(final=True)
    assert entry["clipped"] == 1 and decode(entry["hdr"]).get_total_count() == 2


def test_failure_kind() -> None:
    assert failure_kind(RuntimeError(), Response(404)) == "404"
    assert failure_kind(RuntimeError(), Response(0)) == "RuntimeError"
    assert failure_kind(TimeoutError(), None) == "TimeoutError"


def test_ledger_is_handed_over_once() -> None:
    rec = IntervalRecorder(FakeClock(1.0))
    rec.add_ledger({"key": "k", "seq": 1, "t_ack": 1.0, "op": "create", "item_id": 7})
    assert len(rec.take_ledger()) == 1 and rec.take_ledger() == []


def test_take_pauses_between_buckets_and_never_hands_a_second_over_twice() -> None:
    clock = FakeClock(10.0)
    rec = IntervalRecorder(clock)
    for name in ("GET /a", "GET /b", "GET /c"):
        rec.record(name, 8.5, 1_000)
    finals: list[list[dict[str, object]]] = []

    def pause() -> None:  # another greenlet takes everything while this one is paused
        finals.append(rec.take(final=True))

    regular = rec.take(pause=pause)
    assert len(regular) == 3 and all(f == [] for f in finals)
