"""The runbook registry: names and params checked like the scenario file, the shipped
scenarios' steps valid, and every run recorded as a recovery_action (ok or not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.faults import FaultContext, RecordingSink
from harness.faults.runbook import ACTIONS, ActionFailed, check_action, check_steps, run_action
from harness.scenarios import load_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def test_every_action_of_the_brief_is_registered() -> None:
    assert set(ACTIONS) == {
        "promote_standby",
        "restore_backup",
        "integrity_check",
        "cold_start",
        "restore_region",
        "remove_toxics",
        "rotate_keys",
        "revoke_kid",
        "restore_attacker_changes",
        "wait_ready",
        "checksum_check",
        "pitr_restore",
    }
    assert all(action.summary for action in ACTIONS.values())


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_the_shipped_scenarios_name_real_actions(path: Path) -> None:
    scenario = load_scenario(path)
    check_steps(scenario.recovery.steps, str(path))


def test_an_unknown_action_names_the_step_and_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        check_action("restore_bakup", {}, "s.toml", "recovery.steps[1]")
    message = str(info.value)
    assert message.startswith("s.toml: recovery.steps[1].action: unknown runbook action")
    assert "did you mean 'restore_backup'?" in message


@pytest.mark.parametrize(
    ("action", "params", "expected"),
    [
        ("wait_ready", {"timeout_s": "soon"}, "recovery.steps[0].params.timeout_s: expected a"),
        ("wait_ready", {"path": "readyz"}, "params.path: expected a path starting with /"),
        ("integrity_check", {"target": "primry"}, "did you mean 'primary'?"),
        ("revoke_kid", {"kd": "x"}, "params.kd: unknown key (did you mean 'kid'?)"),
        ("promote_standby", {"offline": "yes"}, "params.offline: expected true or false"),
    ],
)
def test_bad_params_are_config_errors(
    action: str, params: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        check_action(action, params, "s.toml", "recovery.steps[0]")
    assert expected in str(info.value)


def test_defaults() -> None:
    assert check_action("revoke_kid", {}) == {"kid": "leaked"}
    assert check_action("wait_ready", {}) == {"path": "/readyz", "timeout_s": 15.0}
    assert check_action("restore_backup", {}) == {"path": None, "offline": None, "purge_cdn": True}


def test_a_failed_action_is_recorded_and_raised() -> None:
    sink = RecordingSink()
    ctx = FaultContext(sink=sink)  # no deployment: the action cannot run
    with pytest.raises(ActionFailed) as info:
        run_action("cold_start", {}, ctx)
    assert info.value.action == "cold_start" and "deployment" in info.value.detail
    (event,) = sink.events
    assert event["kind"] == "recovery_action" and event["ok"] is False
    assert event["action"] == "cold_start" and event["took_s"] >= 0
    with pytest.raises(ConfigError):
        run_action("nope", {}, ctx)
    assert len(sink.events) == 1  # nothing ran, nothing recorded
