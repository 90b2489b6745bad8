"""The read-back of acknowledged writes (batches, retries, errors), and the
recovery table, without processes: a fake transport and fake live runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.data_loss import measure_data_loss
from harness.commands.exits import exit_code_of
from harness.report.tables import recovery_table
from harness.rundir import iter_jsonl
from harness.runner import http
from harness.runner.readback.core import ReadbackError, ledger_keys, read_back, wait_for_ledger
from harness.runner.readback.lookup import LookupAdapter, lookup_all


class FakeTarget:
    """Answers lookups from a set of stored keys; scripted failures first."""

    def __init__(self, stored: dict[str, int], failures: list[int | None] | None = None) -> None:
        self.stored = stored
        self.failures = list(failures or [])
        self.batches: list[int] = []

    def __call__(self, url: str, method: str, **kwargs: Any) -> http.Answer:
        assert url.endswith("/api/writes/lookup") and method == "POST"
        assert kwargs["headers"]["Authorization"] == "Bearer tok"
        if self.failures:
            status = self.failures.pop(0)
            error = None if status is not None else "ConnectionRefusedError: refused"
            return http.Answer(status, b"busy", error, 0.001)
        keys = json.loads(kwargs["body"])["keys"]
        self.batches.append(len(keys))
        found = {k: self.stored[k] for k in keys if k in self.stored}
        body = json.dumps({"found": found, "missing": [k for k in keys if k not in found]})
        return http.Answer(200, body.encode(), None, 0.001)


class FakeLive:
    def __init__(self, through_t: float) -> None:
        self.through_t = through_t
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        self.through_t += 0.5

    def ledger_through_t(self) -> float:
        return self.through_t


def test_lookup_in_batches_of_ten_thousand() -> None:
    keys = [f"k{i}" for i in range(23_456)]
    target = FakeTarget({k: i for i, k in enumerate(keys) if i % 1000})
    found = lookup_all("http://127.0.0.1:1", "tok", keys, 5.0, send=target)
    assert target.batches == [10_000, 10_000, 3_456]
    assert len(found) == len(keys) - 24 and "k1000" not in found


def test_lookup_retries_while_the_target_is_down_then_gives_up() -> None:
    target = FakeTarget({"a": 1}, failures=[None, 503, 503])
    assert lookup_all("http://h:1", "tok", ["a", "b"], 5.0, send=target, retry_every_s=0.01) == {
        "a": 1
    }
    down = FakeTarget({}, failures=[None] * 1000)
    started = time.monotonic()
    with pytest.raises(ReadbackError, match="did not answer"):
        lookup_all("http://h:1", "tok", ["a"], 0.2, send=down, retry_every_s=0.01)
    assert time.monotonic() - started < 2.0
    with pytest.raises(ReadbackError, match="answered 401"):
        lookup_all("http://h:1", "tok", ["a"], 5.0, send=FakeTarget({}, failures=[401]))


def test_ledger_keys_up_to_checked_at(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    lines = [{"key": "a", "t_ack": 10.0}, {"key": "b", "t_ack": 12.0}, {"key": "a", "t_ack": 11.0}]
    ledger.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"key": "torn', "utf-8")
    assert ledger_keys(ledger, 11.5) == ["a"]
    assert ledger_keys(ledger, 12.0) == ["a", "b"]


def test_wait_for_ledger_is_bounded() -> None:
    live = FakeLive(through_t=100.0)
    assert wait_for_ledger(live, 101.2, wait_s=5.0) == 101.2
    slow = FakeLive(through_t=-1e9)
    started = time.monotonic()
    assert wait_for_ledger(slow, 50.0, wait_s=0.3) < 50.0
    assert time.monotonic() - started < 2.0


def test_readback_file_feeds_rpo(tmp_path: Path) -> None:
    now = time.time()
    ledger = [{"key": f"k{i}", "seq": i, "t_ack": now - 10 + i} for i in range(6)]
    (tmp_path / "ledger.jsonl").write_text("".join(json.dumps(x) + "\n" for x in ledger), "utf-8")
    target = FakeTarget({"k0": 0, "k1": 1, "k2": 2, "k4": 4})
    adapter = LookupAdapter("http://h:1", "tok", send=target)
    result = read_back(FakeLive(now + 1), adapter, 5.0, tmp_path)
    assert (result.checked, result.present, result.missing, result.unknown) == (6, 4, 2, 0)
    stored = json.loads((tmp_path / "readback.json").read_text())
    assert stored["present"]["k4"] == 4 and stored["adapter"] == "lookup"
    assert stored["counts"] == {"present": 4, "lost": 2, "unknown": 0}
    loss = measure_data_loss(iter_jsonl(tmp_path / "ledger.jsonl"), stored, now - 5)
    assert loss.lost_writes == 2 and loss.lost_keys == ("k3", "k5")
    assert loss.rpo_s == pytest.approx(2.0, abs=1e-3)
    no_token = read_back(FakeLive(now + 1), LookupAdapter("http://h:1", None), 5.0, tmp_path)
    assert no_token.error is not None and "HARNESS_TOKEN_SERVICE" in no_token.error
    assert "error" in json.loads((tmp_path / "readback.json").read_text())


def test_recovery_table_and_exit_codes() -> None:
    summary: dict[str, Any] = {
        "verdict": "fail",
        "recovery": {
            "rto_s": None, "ttd_s": 0.1, "outage_s": 5.0, "rpo_s": 1.5, "lost_writes": 3,
            "acknowledged_writes": 90, "objectives": {"rto_s": 10.0},
            "verdicts": {"recovered": False, "rto": False},
            "forged_requests": 20, "unauthorized_ok": 4, "containment_s": 1.2,
            "forged_ok_after_containment": 0, "warnings": ["no readback.json: RPO not measured"],
        },
    }  # fmt: skip
    table = recovery_table(summary)
    assert "not recovered" in table and "<= 10 s" in table and "FAIL" in table
    assert "3 of 90" in table and "time to containment" in table and "note: no readback" in table
    assert recovery_table({"recovery": None}) == "recovery: not measured"
    assert [exit_code_of(v) for v in ("pass", "fail", "error", "incomplete")] == [0, 1, 3, 4]
