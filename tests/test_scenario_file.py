"""Scenario files: the shipped six load, and every malformed file fails with file, key, reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.faults import build_fault
from harness.scenarios import (
    FAULT_TYPES,
    PercentileLimit,
    Scenario,
    load_scenario,
    rescale,
    rescale_checked,
    scenario_from_mapping,
    scenario_to_dict,
)

SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "scenarios"
SHIPPED = (
    "database-failover",
    "api-failure",
    "regional-failure",
    "complete-outage",
    "data-corruption",
    "security-breach",
)

MINIMAL = """
name = "tiny"
[fault]
type = "command"
params = { command = "true" }
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    """The error of loading the file and building its fault (what `harness scenario` checks
    before anything starts; the loader itself imports no fault code)."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        build_fault(load_scenario(path).fault, str(path))
    message = str(info.value)
    assert message.startswith(str(path)), message
    return message


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load_with_short_defaults(name: str) -> None:
    scenario = load_scenario(SCENARIOS_DIR / f"{name}.toml")
    assert scenario.name == name
    assert scenario.fault.type == name.replace("-", "_")
    assert 20 <= scenario.duration_s <= 45
    assert scenario.inject_at_s >= scenario.phases.warmup_s + scenario.phases.steady_check_s
    assert scenario.objectives.rto_s is not None
    assert scenario.thresholds


@pytest.mark.parametrize("name", SHIPPED)
def test_stored_form_round_trips_through_json(name: str) -> None:
    scenario = load_scenario(SCENARIOS_DIR / f"{name}.toml")
    stored = json.loads(json.dumps(scenario_to_dict(scenario)))
    again = scenario_from_mapping(stored, "run.json: config.scenario")
    assert again == Scenario(**{**scenario.__dict__, "source": "run.json: config.scenario"})


def test_defaults_of_a_minimal_file(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, MINIMAL))
    assert scenario.target.kind == "deployment"
    assert scenario.profile.name == "light"
    assert scenario.steady_state.success_rate == 0.99
    assert scenario.phases.window_s == 3.0
    assert scenario.recovery.mode == "automatic"
    assert scenario.inject_at_s == 10.0
    assert scenario.clear_at_s == scenario.observe_end_s == 30.0
    assert scenario.duration_s == 32.0


def test_the_front_door_is_read_from_the_deployment_table(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, MINIMAL)).deployment.front_door == "auto"
    text = MINIMAL + '[deployment]\nfront_door = "router"\n'
    assert load_scenario(write(tmp_path, text)).deployment.front_door == "router"


def test_full_file_reads_every_key(tmp_path: Path) -> None:
    text = """
name = "full"
description = "every key"
profile = { stages = [[10, 5]] }
target = { url = "http://127.0.0.1:9000/" }
thresholds = ["p(99)<500ms"]
[phases]
warmup_s = "2s"
steady_check_s = 3
observe_s = "20s"
cooldown_s = 0
window_s = "2s"
[steady_state]
success_rate = "99.5%"
p95_ms = 250
p99_9_ms = 900
min_requests = 5
probe = { url = "http://127.0.0.1:9000/readyz", expect_status = 204, timeout_s = "500ms" }
[fault]
type = "signal"
at_s = 6
duration_s = "4s"
params = { pid = 123, signal = "STOP" }
[recovery]
mode = "runbook"
[[recovery.steps]]
action = "second"
after_s = 5
[[recovery.steps]]
action = "first"
params = { x = [1, 2] }
[objectives]
rto_s = "18s"
rpo_s = 0
containment_s = 5
"""
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.profile.name is None and scenario.profile.inline is not None
    assert scenario.target.url == "http://127.0.0.1:9000"
    assert scenario.phases.warmup_s == 2.0 and scenario.phases.cooldown_s == 0.0
    assert scenario.steady_state.success_rate == pytest.approx(0.995)
    assert scenario.steady_state.latency_ms == (
        PercentileLimit(95.0, 250.0),
        PercentileLimit(99.9, 900.0),
    )
    assert scenario.steady_state.latency_ms[1].key == "p99_9_ms"
    probe = scenario.steady_state.probe
    assert probe is not None and probe.expect_status == 204 and probe.timeout_s == 0.5
    assert scenario.inject_at_s == 6.0 and scenario.clear_at_s == 10.0
    assert [s.action for s in scenario.recovery.steps] == ["first", "second"]
    assert scenario.objectives.rpo_s == 0.0 and scenario.objectives.rto_s == 18.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('duraton = "30s"\n' + MINIMAL, "duraton: unknown key (did you mean 'duration'?)"),
        (
            MINIMAL + "[steady_state]\np95ms = 250\n",
            "steady_state.p95ms: unknown key (did you mean 'p95_ms'?)",
        ),
        (MINIMAL + '[phases]\nobserve_s = "soon"\n', "phases.observe_s: expected a duration"),
        (MINIMAL + "[phases]\nobserve_s = -1\n", "phases.observe_s: duration must be positive"),
        ('name = "x"\n', ": fault: is required (a table)"),
        (
            '[fault]\ntype = "database_failvoer"\n',
            "fault.type: expected one of database_failover",
        ),
        (MINIMAL + "[steady_state]\nsuccess_rate = 1.5\n", "steady_state.success_rate:"),
        ('target = "ftp://x"\n' + MINIMAL, 'target: expected "deployment" or an http(s) URL'),
        (
            MINIMAL + '[deployment]\nfront_door = "nginx"\n',
            "deployment.front_door: expected one of",
        ),
        (MINIMAL + "[phases]\nobserve_s = 2\n", "phases.observe_s: expected an observation"),
        (
            MINIMAL.replace('type = "command"', 'type = "command"\nat_s = 3'),
            "fault.at_s: expected at least warmup_s + steady_check_s = 10s",
        ),
        (
            MINIMAL.replace('type = "command"', 'type = "command"\nduration_s = 60'),
            "fault.duration_s: expected at most phases.observe_s = 20s",
        ),
        (MINIMAL + '[recovery]\nmode = "runbook"\n', 'recovery.steps: mode "runbook" needs'),
        (
            MINIMAL + '[recovery]\nmode = "manual"\n',
            "recovery.mode: expected one of automatic, runbook",
        ),
        (
            MINIMAL + '[recovery]\n[[recovery.steps]]\naction = "a"\n',
            'recovery.steps: steps are only for mode "runbook"',
        ),
        (
            MINIMAL + '[recovery]\nmode = "runbook"\n[[recovery.steps]]\nafter_s = 1\n',
            "recovery.steps[0].action: is required",
        ),
        (
            MINIMAL + '[steady_state]\nprobe = { url = "http://a/", path = "/b" }\n',
            "steady_state.probe: expected exactly one of url",
        ),
        ("thresholds = [1]\n" + MINIMAL, "thresholds[0]: expected an expression or a table"),
        (
            MINIMAL.replace('command = "true"', 'comand = "true"'),
            "fault.params.command: is required",
        ),
        (
            MINIMAL.replace('command = "true"', 'command = "true", revrt = "x"'),
            "fault.params.revrt: unknown key (did you mean 'revert'?)",
        ),
        (
            '[fault]\ntype = "signal"\nparams = { pid = 1, signal = "SIGNOPE" }\n',
            "fault.params.signal: expected a signal name",
        ),
        (
            '[fault]\ntype = "proxy"\nparams = { toxic = "latncy" }\n',
            "fault.params.toxic: expected one of latency",
        ),
        (
            '[fault]\ntype = "http"\n'
            'params = { url = "http://127.0.0.1:1/", expect_status = 42 }\n',
            "fault.params.expect_status: expected an HTTP status",
        ),
    ],
)
def test_malformed_files_name_file_key_and_expectation(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in load_error(tmp_path, text)


def test_did_you_mean_on_a_misspelt_fault_type(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[fault]\ntype = "database_failvoer"\n')
    assert "did you mean 'database_failover'?" in message


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'name = "x"\n[fault\n')
    assert "not valid TOML" in message and "line 2" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_every_fault_type_is_accepted_by_the_loader(tmp_path: Path) -> None:
    generic_params = {
        "command": 'params = { command = "true" }',
        "http": 'params = { url = "http://127.0.0.1:9/" }',
        "signal": "params = { pid = 1 }",
        "proxy": 'params = { toxic = "down" }',
        "process": 'params = { pattern = "my-service" }',
        "postgres": 'params = { dsn = "postgresql://127.0.0.1:9/x" }',
        "toxiproxy": 'params = { proxy = "db", toxic = "latency" }',
        "patroni": 'params = { api = "http://127.0.0.1:9", action = "pause" }',
    }
    for fault_type in FAULT_TYPES:
        text = f'[fault]\ntype = "{fault_type}"\n{generic_params.get(fault_type, "")}\n'
        assert load_scenario(write(tmp_path, text)).fault.type == fault_type


def test_rescale_keeps_proportions_and_the_window(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS_DIR / "regional-failure.toml")
    longer = rescale(scenario, 90.0)
    assert longer.duration_s == pytest.approx(90.0)
    assert longer.fault.duration_s == pytest.approx(scenario.fault.duration_s * 3)  # type: ignore[operator]
    assert longer.phases.window_s == scenario.phases.window_s
    assert longer.objectives == scenario.objectives
    runbook = load_scenario(SCENARIOS_DIR / "complete-outage.toml")
    double = rescale_checked(runbook, 74.0)
    assert [s.after_s for s in double.recovery.steps] == [10.0, 12.0]


def test_rescale_too_short_for_one_window_is_a_config_error() -> None:
    scenario = load_scenario(SCENARIOS_DIR / "api-failure.toml")
    with pytest.raises(ConfigError, match=r"too short.*observation of at least"):
        rescale_checked(scenario, 4.0, "--duration")


def test_duration_key_in_the_file_rescales(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, 'duration = "64s"\n' + MINIMAL))
    assert scenario.duration_s == pytest.approx(64.0)
    assert scenario.phases.observe_s == pytest.approx(40.0)
    overridden = load_scenario(write(tmp_path, MINIMAL), duration_s=16.0)
    assert overridden.duration_s == pytest.approx(16.0)


@pytest.mark.parametrize(
    "name",
    ["../../escaped", "/tmp/absolute", "javascript:alert(1)", ".hidden", "-flag", "a b",
     "x" * 65, "naïve", "a/b"],
)  # fmt: skip
def test_unsafe_scenario_names_are_refused_naming_file_and_field(tmp_path: Path, name: str) -> None:
    message = load_error(tmp_path, f"name = {json.dumps(name)}\n" + MINIMAL.split("\n", 2)[2])
    assert ": name: expected letters, digits" in message


def test_a_file_name_that_is_no_safe_name_needs_a_name(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.split("\n", 2)[2], name="my scenario.toml")
    with pytest.raises(ConfigError, match=r"my scenario\.toml: name: .*'my scenario' \(the file"):
        load_scenario(path)
    assert load_scenario(write(tmp_path, MINIMAL, name="my scenario.toml")).name == "tiny"


def test_safe_names_load() -> None:
    for name in ("a", "db-failover_2.v1", "X" * 64):
        assert scenario_from_mapping({"name": name, "fault": {"type": "command", "params": {
            "command": "true"}}}, "s.toml").name == name  # fmt: skip
