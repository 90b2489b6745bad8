"""The cluster channel: secrets, sealing and every check a received message must pass."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.histograms import encode, new_histogram, record_us
from harness.cli import main
from harness.errors import ConfigError
from harness.load import cluster, message_checks, messages
from harness.load.cluster import Channel, ClusterSecret
from harness.load.message_checks import Rejected

SECRET = ClusterSecret(b"s3cret-s3cret-s3cret", "file")
OTHER = ClusterSecret(b"another-secret-entirely", "file")
RUN = "20261201-180000-abcd"
W1, W2 = "host_w1", "host_w2"


def _joined(worker: str = W1) -> tuple[Channel, Channel]:
    """A master and a worker channel after hello and the first config."""
    master, node = Channel(SECRET, master=True, run_id=RUN), Channel(SECRET, master=False)
    hello = master.open(messages.HELLO, node.hello(worker, pid=1), worker)
    config = master.seal(messages.CONFIG, {"tokens": {}, "nonce": hello["nonce"]}, worker)
    node.open(messages.CONFIG, config, worker)
    assert node.run_id == RUN
    return master, node


def _intervals(entries: list[Any] | None = None) -> dict[str, Any]:
    return {"entries": entries or [], "through_t": 1.0, "ledger": []}


def test_a_round_trip_and_its_replay() -> None:
    master, node = _joined()
    sealed = node.seal(messages.INTERVALS, _intervals(), W1)
    assert master.open(messages.INTERVALS, sealed, W1) == _intervals()
    with pytest.raises(Rejected, match="replayed"):
        master.open(messages.INTERVALS, sealed, W1)
    later = node.seal(messages.INTERVALS, _intervals(), W1)
    master.open(messages.INTERVALS, later, W1)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: {**d, "body": d["body"].replace(b"1.0", b"9.0")},
        lambda d: {**d, "n": d["n"] + 1},
        lambda d: {**d, "run": "another-run"},
        lambda d: {**d, "mac": bytes(32)},
        lambda d: {**d, "body": b"x" * (cluster.MAX_BODY_BYTES + 1)},
        lambda d: "not an envelope",
    ],
)
def test_a_changed_message_is_rejected(tamper: Any) -> None:
    master, node = _joined()
    with pytest.raises(Rejected):
        master.open(messages.INTERVALS, tamper(node.seal(messages.INTERVALS, _intervals(), W1)), W1)


def test_a_message_is_bound_to_its_type_worker_and_direction() -> None:
    master, node = _joined()
    other_master, other_node = _joined(W2)
    sealed = node.seal(messages.INTERVALS, _intervals(), W1)
    with pytest.raises(Rejected, match="MAC"):
        master.open(messages.INTERVALS, sealed, W2)  # claimed by another worker
    with pytest.raises(Rejected, match="MAC"):
        master.open(messages.HELLO, sealed, W1)  # as another type
    pacing = master.seal(messages.PACING, {"per_user_rate_per_s": 1.0}, W1)
    with pytest.raises(Rejected, match="MAC"):
        other_node.open(messages.PACING, pacing, W2)  # sent to another worker
    with pytest.raises(Rejected, match="MAC"):
        other_master.open(messages.PACING, pacing, W1)  # reflected back to a master


def test_without_the_secret_nothing_is_accepted() -> None:
    master = Channel(SECRET, master=True, run_id=RUN)
    rogue = Channel(OTHER, master=False)
    with pytest.raises(Rejected, match="MAC"):
        master.open(messages.HELLO, rogue.hello(W1), W1)
    with pytest.raises(Rejected, match="no hello"):
        stray = Channel(SECRET, master=False).seal(messages.INTERVALS, _intervals(), W1)
        master.open(messages.INTERVALS, stray, W1)
    node = Channel(SECRET, master=False)
    node.hello(W1)
    rogue_master = Channel(OTHER, master=True, run_id=RUN)
    with pytest.raises(Rejected, match="MAC"):
        node.open(messages.CONFIG, rogue_master.seal(messages.CONFIG, {"tokens": {}}, W1), W1)


def test_hello_freshness_and_config_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    master, node = Channel(SECRET, master=True, run_id=RUN), Channel(SECRET, master=False)
    hello = node.hello(W1)
    master.open(messages.HELLO, hello, W1)
    with pytest.raises(Rejected, match="already seen"):
        master.open(messages.HELLO, hello, W1)
    monkeypatch.setattr(cluster.time, "time", lambda: 10_000.0)
    stale = node.hello(W2)
    monkeypatch.undo()
    with pytest.raises(Rejected, match="clock"):
        master.open(messages.HELLO, stale, W2)
    wrong = master.seal(messages.CONFIG, {"tokens": {}, "nonce": "not-yours"}, W1)
    with pytest.raises(Rejected, match="does not answer"):
        node.open(messages.CONFIG, wrong, W1)
    with pytest.raises(Rejected, match="no configuration"):
        node.open(messages.PACING, master.seal(messages.PACING, {}, W1), W1)


def test_secret_sources_and_bad_secrets(tmp_path: Path) -> None:
    good = tmp_path / "secret"
    good.write_text("  0123456789abcdef0123  \n")
    assert cluster.load_secret(good, {}) == ClusterSecret(b"0123456789abcdef0123", "file")
    assert cluster.load_secret(None, {cluster.SECRET_ENV: "0123456789abcdef0"}) is not None
    assert cluster.load_secret(None, {}) is None
    empty = tmp_path / "empty"
    empty.write_text("\n")
    short = tmp_path / "short"
    short.write_text("abc")
    for path, needle in ((empty, "empty"), (short, "at least 16"), (tmp_path / "no", "read")):
        with pytest.raises(ConfigError, match=needle):
            cluster.load_secret(path, {})
    generated = cluster.generate_secret()
    assert cluster.load_secret(None, generated.env()) == ClusterSecret(generated.key, "environment")
    assert "key" not in repr(generated) or generated.key.decode() not in repr(generated)


def test_only_loopback_may_go_without_a_secret() -> None:
    cluster.check_cluster("127.0.0.1", 2, 2, None)
    cluster.check_cluster("::1", 2, 2, None)
    cluster.check_cluster("0.0.0.0", 0, 2, SECRET)
    with pytest.raises(ConfigError, match=r"--master-bind: listening on 0\.0\.0\.0"):
        cluster.check_cluster("0.0.0.0", 2, 2, None)
    with pytest.raises(ConfigError, match="--expect-workers: remote workers need"):
        cluster.check_cluster("127.0.0.1", 0, 1, None)


def _blob() -> str:
    hist = new_histogram()
    record_us(hist, 1234)
    return encode(hist)


def _entry(**changes: Any) -> dict[str, Any]:
    entry = {
        "t": 1.0, "name": "GET /", "requests": 1, "failures": 0, "bytes": 10, "clipped": 0,
        "fine_ok": [1] + [0] * 9, "fine_fail": [0] * 10, "errors": {},
        "hdr": _blob(), "hdr_corrected": None, "hdr_fail": None,
    }  # fmt: skip
    return {**entry, **changes}


def test_histograms_are_bounded_when_inflated() -> None:
    message_checks.check_intervals(_intervals([_entry()]))
    bomb = zlib.compress(bytes(40) + bytes(10_000_000))
    blob = base64.b64encode(struct.pack(">II", 0x1C849314, len(bomb)) + bomb).decode()
    assert len(blob) < 30_000  # ten megabytes in a few kilobytes
    for bad, needle in (
        (blob, "beyond"),
        ("!!!", "base64"),
        (base64.b64encode(b"12345678abc").decode(), "V2"),
        ("x" * (message_checks.MAX_BLOB_CHARS + 1), "at most"),
    ):
        with pytest.raises(Rejected, match=needle):
            message_checks.check_intervals(_intervals([_entry(hdr=bad)]))


@pytest.mark.parametrize(
    "entry",
    [_entry(name=""), _entry(name="x" * 600), _entry(requests=-1), _entry(requests="3"),
     _entry(errors={str(i): 1 for i in range(300)}), _entry(fine_ok=[0] * 200), _entry(t=None)],
)  # fmt: skip
def test_malformed_entries_are_rejected(entry: dict[str, Any]) -> None:
    with pytest.raises(Rejected):
        message_checks.check_intervals(_intervals([entry]))


def test_worker_memory_is_checked() -> None:
    message_checks.check_intervals(
        {**_intervals([_entry()]), "memory": {"pid": 7, "rss_bytes": 10**8}}
    )
    for bad in ({"pid": 7}, {"pid": 7, "rss_bytes": -1}, {"pid": "7", "rss_bytes": 1}, [1, 2],
                {"pid": 7, "rss_bytes": 1, "extra": "x"}):  # fmt: skip
        with pytest.raises(Rejected, match="memory"):
            message_checks.check_intervals({**_intervals([_entry()]), "memory": bad})


def test_worker_cache_records_are_checked() -> None:
    good = [1.0, 1.01, "GET /api/items/{id}", "/api/items/3", "HIT", 200, 900]
    message_checks.check_intervals({**_intervals(), "cache": [good], "cache_dropped": 0})
    for bad, needle in (
        ([good[:6]], "7 fields"),
        ([[*good[:4], "MAYBE", 200, 900]], "x_cache"),
        ([[*good[:3], "http://elsewhere/x", "HIT", 200, 900]], "key"),
        ([[*good[:6], -5]], "latency_us"),
        ([[None, *good[1:]]], "epoch"),
        ([good] * (message_checks.MAX_CACHE_RECORDS + 1), "at most"),
    ):
        with pytest.raises(Rejected, match=needle):
            message_checks.check_intervals({**_intervals(), "cache": bad, "cache_dropped": 0})
    with pytest.raises(Rejected, match="cache_dropped"):
        message_checks.check_intervals({**_intervals(), "cache": [good]})


def test_config_checks() -> None:
    message_checks.check_config(
        {"tokens": {"admin": "t"}, "item_ids": [1], "per_user_rate_per_s": 2}
    )
    for bad in ({"tokens": []}, {"tokens": {"a": 1}}, {"tokens": {}, "per_user_rate_per_s": -1}):
        with pytest.raises(Rejected):
            message_checks.check_config(bad)


def _one_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"harness {command}: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["worker", "--master", "127.0.0.1:1"], "no cluster secret"),
        (["worker", "--master", "127.0.0.1:1", "--cluster-secret-file", "{empty}"], "empty"),
        (["worker", "--master", "127.0.0.1:1", "--cluster-secret-file", "{missing}"], "read"),
        (["run", "--master-bind", "0.0.0.0:5557", "--workers", "1"], "--master-bind"),
        (["run", "--cluster-secret-file", "{empty}"], "--cluster-secret-file"),
        (["run", "--workers", "0", "--expect-workers", "2"], "remote workers need"),
        (["run", "--metrics-bind", "9646"], "--metrics-bind: expected HOST:PORT"),
        (["scenario", "x.toml", "--cluster-secret-file", "{empty}"], "--cluster-secret-file"),
    ],
)
def test_bad_cluster_input_is_one_line_and_exit_2(
    argv: list[str],
    needle: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(cluster.SECRET_ENV, raising=False)
    (tmp_path / "empty").write_text("")
    paths = {"{empty}": str(tmp_path / "empty"), "{missing}": str(tmp_path / "missing")}
    argv = [paths.get(arg, arg) for arg in argv]
    assert main([*argv, *(["--out", str(tmp_path / "run")] if argv[0] == "run" else [])]) == 2
    assert needle in _one_line(capsys.readouterr().err, argv[0])
    assert not (tmp_path / "run").exists()


def test_the_inflation_cap_fits_the_largest_histogram_of_ours() -> None:
    from harness.analysis.hdrblob import COUNTS_LEN

    assert COUNTS_LEN <= (message_checks.MAX_HDR_PAYLOAD_BYTES - 40) // 9
