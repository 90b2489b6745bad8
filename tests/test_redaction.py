"""Secrets stay out of run files: env and header values redacted (names kept), bearer
tokens, JWTs and URL secrets redacted in any string; ordinary text left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.load.journal import Manifest, RunJournal
from harness.redaction import REDACTED, redact_argv, redact_strings, redact_text, redact_url
from harness.rundir import RunDir
from harness.scenarios import load_scenario, scenario_from_mapping, scenario_to_dict

JWT = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLWJ5dGVz"

SCENARIO = f"""
name = "secrets"
target = "https://ci:hunter2@example.test/app?api_key=K3Y&page=2"
[fault]
type = "http"
[fault.params]
url = "https://hooks.example.test/chaos?token=T0K3N&region=a"
headers = {{ Authorization = "Bearer {JWT}", X-Api-Key = "S3CR3T-HEADER" }}
body = "invoked with Bearer {JWT}"
[fault.params.clear]
headers = {{ X-Api-Key = "S3CR3T-CLEAR" }}
"""

COMMAND = """
name = "envs"
[fault]
type = "command"
params = { command = "deploy --to staging", env = { DEPLOY_TOKEN = "S3CR3T-ENV", REGION = "a" } }
"""

SECRETS = ("hunter2", "K3Y", "T0K3N", JWT, "S3CR3T")


def no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {JWT}", f"Authorization: Bearer {REDACTED}"),
        (f"token {JWT} leaked", f"token {REDACTED} leaked"),
        ("Basic dXNlcjpwYXNzd29yZA==", f"Basic {REDACTED}"),
        ("http://u:pw@h:80/p?access_token=x&n=1", f"http://u:{REDACTED}@h:80/p?access_token={REDACTED}&n=1"),
        ("https://h/?X-Amz-Signature=abc now", f"https://h/?X-Amz-Signature={REDACTED} now"),
        ("token expired; Basic auth; http://h/p?page=2", "token expired; Basic auth; http://h/p?page=2"),
    ],
)  # fmt: skip
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert redact_text(expected) == expected  # redacting twice changes nothing


def test_redact_helpers_keep_structure() -> None:
    assert redact_url("http://127.0.0.1:8000/readyz") == "http://127.0.0.1:8000/readyz"
    assert redact_strings({"a": [f"Bearer {JWT}", 3], "b": None}) == {
        "a": [f"Bearer {REDACTED}", 3],
        "b": None,
    }
    assert redact_argv(["harness", "run", "--host", "http://u:p@h/"]) == [
        "harness", "run", "--host", f"http://u:{REDACTED}@h/"
    ]  # fmt: skip


def test_stored_scenario_keeps_names_and_redacts_values(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SCENARIO, encoding="utf-8")
    (tmp_path / "c.toml").write_text(COMMAND, encoding="utf-8")
    stored = scenario_to_dict(load_scenario(tmp_path / "s.toml"))
    params = stored["fault"]["params"]
    assert params["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED}
    assert params["clear"]["headers"] == {"X-Api-Key": REDACTED}
    assert params["url"] == f"https://hooks.example.test/chaos?token={REDACTED}&region=a"
    assert stored["target"].startswith(f"https://ci:{REDACTED}@example.test/app?api_key=")
    command = scenario_to_dict(load_scenario(tmp_path / "c.toml"))["fault"]["params"]
    assert command == {"command": "deploy --to staging",
                       "env": {"DEPLOY_TOKEN": REDACTED, "REGION": REDACTED}}  # fmt: skip
    no_secret(json.dumps([stored, command]))
    again = scenario_from_mapping(json.loads(json.dumps(stored)), "run.json: config.scenario")
    assert again.fault.type == "http"  # the stored form still reads back (a report re-judges it)


def test_run_json_and_events_hold_no_secret(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(COMMAND, encoding="utf-8")
    scenario = load_scenario(tmp_path / "c.toml")
    manifest = Manifest(
        run_id="r",
        target="http://u:hunter2@127.0.0.1:9/?token=T0K3N",
        embedded_service=False,
        workers_expected=1,
        config={"scenario": scenario_to_dict(scenario), "host": "http://u:hunter2@h/"},
        thresholds=[],
        planned_duration_s=1.0,
        profile=None,
        argv=["harness", "scenario", "--host", "http://x/?key=K3Y", f"Bearer {JWT}"],
    )
    journal = (
        RunJournal(RunDir(tmp_path / "run"), manifest)
        if (tmp_path / "run").mkdir() is None
        else None
    )
    assert journal is not None
    journal.event("fault_failed", detail=f"POST https://h/?token=T0K3N answered 401: Bearer {JWT}")
    journal.finish("completed")
    for path in (tmp_path / "run").iterdir():
        no_secret(path.read_text(encoding="utf-8"))
    run = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert run["config"]["scenario"]["fault"]["params"]["env"] == {
        "DEPLOY_TOKEN": REDACTED, "REGION": REDACTED}  # fmt: skip
