"""`harness.ledger.record`: what an entry holds, bad keys and fields, and the one warning
outside a harness worker (plain `locust -f`)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from harness import ledger


@pytest.fixture
def sink() -> Iterator[list[dict[str, Any]]]:
    entries: list[dict[str, Any]] = []
    ledger.install(entries.append, worker="w1")
    yield entries
    ledger.uninstall()


def test_an_entry_holds_key_ack_time_worker_and_fields(sink: list[dict[str, Any]]) -> None:
    ledger.record("order-1", table="orders", amount_cents=1250, tags=["a"])
    ledger.record(42)
    first, second = sink
    assert first["key"] == "order-1" and first["worker"] == "w1"
    assert first["table"] == "orders" and first["amount_cents"] == 1250 and first["tags"] == ["a"]
    assert isinstance(first["t_ack"], float) and first["t_ack"] <= second["t_ack"]
    assert second["key"] == "42"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ledger.record("k", when=datetime.date(2026, 1, 1)), "field 'when' is not JSON"),
        (lambda: ledger.record("k", ratio=float("nan")), "field 'ratio' is not JSON"),
        (lambda: ledger.record("k", worker="x"), "field 'worker' is reserved"),
        (lambda: ledger.record(""), "the key is empty"),
        (lambda: ledger.record(b"k"), "expected the key as a string"),  # type: ignore[arg-type]
    ],
)
def test_bad_keys_and_fields_are_clear_errors(
    sink: list[dict[str, Any]], call: Any, message: str
) -> None:
    with pytest.raises(ledger.LedgerFieldError, match=message):
        call()
    assert sink == []


def test_outside_a_worker_nothing_is_recorded_and_one_warning_says_so(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "_warned", False)
    assert not ledger.installed()
    with caplog.at_level(logging.WARNING, logger="harness.ledger"):
        ledger.record("a")
        ledger.record("b", n=1)
    assert [r.getMessage() for r in caplog.records if "not recorded" in r.getMessage()] == [
        "harness.ledger.record: not running under a harness worker "
        "(harness run / scenario); acknowledged writes are not recorded"
    ]
    with pytest.raises(ledger.LedgerFieldError):  # bad input is an error even outside
        ledger.record("c", bad=object())
