"""A scenario stopped by its own threshold: `abort_on_fail` on the error rate, against a
loopback target of the test's own that answers 500 while the fault's marker file exists.
The abort comes within 2 s of the data showing the failure, the fault is rolled back (the
marker removed by its revert), the report and JUnit say ABORTED, and the exit code is 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.rundir import iter_jsonl
from tests.loopback_target import answering, caller_locustfile, serving

from .conftest import events, run_harness, summary, write

LOCUSTFILE = caller_locustfile(20)

SCENARIO = """
name = "aborts"
target = "{url}"
locustfile = "users.py"
profile = {{ stages = [{{ duration = "1s", users = 2, rate_per_s = 40 }}] }}
thresholds = [
    "p(95)<5s",
    {{ threshold = "error_rate<5%", abort_on_fail = true, delay_abort_eval = "1s" }},
]
[phases]
warmup_s = 2
steady_check_s = 1
observe_s = 30
cooldown_s = 1
window_s = 1
[steady_state]
success_rate = 0.99
[fault]
type = "command"
params = {{ command = "touch {marker}", revert = "rm -f {marker}" }}
"""


@pytest.fixture
def failing_while(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback target answering 500 while `marker` exists, else 200: its URL, marker."""
    marker = tmp_path / "failing"
    with serving(answering(lambda: 500 if marker.exists() else 200)) as url:
        yield url, marker


def first_failing_second(run_dir: Path, limit: float) -> int:
    """The first second after which the cumulative error rate is at or over `limit`."""
    by_second: dict[int, list[int]] = {}
    for line in iter_jsonl(run_dir / "intervals.jsonl"):
        counts = by_second.setdefault(int(line["t"]), [0, 0])
        counts[0] += line["requests"]
        counts[1] += line["failures"]
    requests = failures = 0
    for second in sorted(by_second):
        requests += by_second[second][0]
        failures += by_second[second][1]
        if requests and failures / requests >= limit:
            return second
    raise AssertionError("the error rate never reached the limit")


@pytest.mark.e2e
def test_an_abort_on_fail_threshold_stops_the_run_and_rolls_back(
    tmp_path: Path, failing_while: tuple[str, Path]
) -> None:
    url, marker = failing_while
    write(tmp_path / "users.py", LOCUSTFILE)
    path = write(tmp_path / "s.toml", SCENARIO.format(url=url, marker=marker))
    run_dir = tmp_path / "run"
    done = run_harness("scenario", str(path), "--out", str(run_dir), timeout_s=120)
    assert done.code == 1, done.out + done.err
    injected = events(run_dir, "fault_injected")[0]
    aborted = events(run_dir, "run_aborted")[0]
    cleared = events(run_dir, "fault_cleared")[0]
    assert aborted["threshold"] == "error_rate<5%" and aborted["source"].endswith("thresholds")
    failing_since = first_failing_second(run_dir, 0.05) + 1  # when the data showed it
    assert aborted["through_t"] == failing_since  # judged on the first failing data
    assert aborted["t"] - failing_since <= 2.0, (aborted, failing_since)
    assert injected["t"] < aborted["t"] <= cleared["t"]  # rolled back after the abort
    assert not marker.exists(), "the fault's revert ran"
    result = summary(run_dir)
    assert result["status"] == "aborted" and result["verdict"] == "aborted"
    assert result["abort"]["threshold"] == "error_rate<5%"
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "ABORTED" in report and "error_rate&lt;5%" in report
    assert 'type="RunAborted"' in (run_dir / "junit.xml").read_text(encoding="utf-8")
    assert "ABORTED" in done.out
    assert aborted["t"] - injected["t"] < 10  # long before the 30 s observation's end


@pytest.mark.e2e
def test_bad_abort_syntax_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    bad = SCENARIO.replace("abort_on_fail = true", 'abort_on_fail = "yes"')
    path = write(tmp_path / "s.toml", bad.format(url="http://127.0.0.1:9", marker="m"))
    write(tmp_path / "users.py", LOCUSTFILE)
    done = run_harness("scenario", str(path), "--out", str(tmp_path / "run"))
    assert done.code == 2, done.out + done.err
    assert f"{path}: thresholds[1].abort_on_fail: expected true or false" in done.err
    assert not (tmp_path / "run").exists()
    good = write(tmp_path / "good.toml", SCENARIO.format(url="http://127.0.0.1:9", marker="m"))
    done = run_harness("scenario", str(good), "--max-error-budget", "0")
    assert done.code == 2 and "--max-error-budget: expected a number > 0" in done.err
