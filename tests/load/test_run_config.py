"""`harness run` flags into a RunConfig, `--master` parsing, and the run directory writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.commands.run import build_config
from harness.commands.worker import parse_master
from harness.errors import ConfigError
from harness.load.journal import Manifest, RunJournal, prepare_run_dir
from harness.rundir import iter_jsonl
from harness.rundir.thresholds import expressions

CONTRACT_RUN_JSON = [
    "schema", "run_id", "kind", "scenario", "profile", "target", "embedded_service", "topology",
    "workers_expected", "host", "versions", "argv", "config", "thresholds",
    "planned_duration_s", "started_at", "ended_at", "status", "error",
]  # fmt: skip


def _config(*flags: str):  # type: ignore[no-untyped-def]
    return build_config(build_parser().parse_args(["run", *flags]), argv=["harness", "run"])


def test_profile_rescaled_and_thresholds_from_objectives_then_flags() -> None:
    config = _config("--profile", "moderate", "--duration", "45s", "--workers", "3",
                     "--threshold", "p(99)<1s", "--threshold", "error_rate<1%")  # fmt: skip
    assert config.duration_s == pytest.approx(45.0) and config.profile_name == "moderate"
    assert config.workers == config.expect_workers == 3
    assert expressions(config.all_thresholds) == ["p(95)<250ms", "error_rate<1%", "p(99)<1s"]
    assert json.dumps(config.as_json())  # run.json's config is plain JSON


def test_users_mode_and_defaults() -> None:
    config = _config("--users", "7")
    assert config.profile_name is None and config.duration_s == 30.0
    assert config.profile.stages[0].spawn_rate == 7.0 and not config.profile.paced
    assert config.host is None and config.master_bind_port == 0


def test_extreme_objectives_are_not_thresholds() -> None:
    assert _config("--profile", "extreme").all_thresholds == ()


def test_master_bind_and_remote_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CLUSTER_SECRET", "a-test-secret-of-some-length")
    config = _config("--workers", "0", "--expect-workers", "2", "--master-bind", "10.0.0.5:5557")
    assert (config.master_bind_host, config.master_bind_port) == ("10.0.0.5", 5557)
    assert config.expect_workers == 2


@pytest.mark.parametrize(
    ("flags", "where"),
    [
        (["--spawn-rate", "3"], "--spawn-rate"),
        (["--workers", "-1"], "--workers"),
        (["--expect-workers-timeout", "soon"], "--expect-workers-timeout"),
        (["--master-bind", "host:port"], "--master-bind"),
        (["--profile", "extreme", "--duration", "5s"], "--duration"),
    ],
)
def test_bad_flags_name_the_flag(flags: list[str], where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        _config(*flags)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.1.2.3:6000", ("10.1.2.3", 6000)), ("loadmaster", ("loadmaster", 5557)),
     ("[::1]:7000", ("::1", 7000))],
)  # fmt: skip
def test_parse_master(text: str, expected: tuple[str, int]) -> None:
    assert parse_master(text) == expected


def test_run_directory_contract_and_refusals(tmp_path: Path) -> None:
    run_dir = prepare_run_dir(tmp_path / "run")
    manifest = Manifest("run", "http://127.0.0.1:1", True, 2, {}, ["p(95)<1s"], 10.0, "light")
    journal = RunJournal(run_dir, manifest)
    assert list(json.loads(run_dir.run_json.read_text())) == CONTRACT_RUN_JSON
    journal.event("stage", 5.0, name="ramp", users=1, spawn_rate=1.0, rate_per_s=5.0)
    journal.ledger([{"key": "k", "seq": 1, "t_ack": 1.0, "op": "create", "item_id": 3}])
    journal.flush()
    assert next(iter_jsonl(run_dir.events))["kind"] == "stage"  # readable before the end
    journal.finish("completed")
    final = json.loads(run_dir.run_json.read_text())
    assert final["status"] == "completed" and final["ended_at"] >= final["started_at"]
    with pytest.raises(ConfigError, match="not empty"):
        prepare_run_dir(run_dir.path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="found a file"):
        prepare_run_dir(tmp_path / "file")
    assert prepare_run_dir(None, reports_dir=tmp_path / "reports").path.parent.name == "reports"


def test_profile_dsn_reaches_the_run_and_run_json_never_holds_its_password() -> None:
    config = _config("--profile-dsn", "postgresql://app:hunter2@127.0.0.1:5432/shop",
                     "--apply-indexes")  # fmt: skip
    assert config.profile_dsn == "postgresql://app:hunter2@127.0.0.1:5432/shop"
    assert config.apply_indexes is True
    assert "hunter2" not in str(config.as_json())
    assert _config().profile_dsn is None and _config().apply_indexes is False
