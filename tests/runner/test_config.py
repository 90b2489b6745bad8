"""Checks made before a scenario starts: thresholds from objectives, the fitted profile,
the [deployment] table, bad input (exit 2 with file and key), and suite discovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load.profiles import Profile, Stage
from harness.rundir.thresholds import expressions, parse_thresholds
from harness.runner import prepare_scenario, scenario_thresholds
from harness.runner.profile import fit_profile, scenario_profile
from harness.runner.suite import prepare_suite, scenario_command, scenario_files
from harness.scenarios import load_scenario, scenario_from_mapping, scenario_to_dict
from harness.scenarios.model import Phases
from harness.scenarios.observation import min_total_s

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios"

BASE = """
name = "{name}"
{top}
target = "http://127.0.0.1:9"
profile = {{ stages = [{{ duration = "2s", users = 4, rate_per_s = 40 }}] }}
[phases]
warmup_s = 2
steady_check_s = 2
observe_s = 6
cooldown_s = 1
[fault]
type = "command"
params = {{ command = "true" }}
"""


def base(name: str, top: str = "") -> str:
    return BASE.format(name=name, top=top)


def scenario_file(tmp_path: Path, extra: str = "", name: str = "tiny", top: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(base(name, top) + extra, encoding="utf-8")
    return path


def config_error(path: Path, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        prepare_scenario(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_objectives_become_thresholds_unless_already_judged(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, "[objectives]\nrto_s = 3\nrpo_s = 0\ncontainment_s = 5\n")
    scenario = load_scenario(path)
    assert expressions(scenario_thresholds(scenario)) == [
        "rto<=3s",
        "lost_writes==0",
        "containment<=5s",
        "forged_after_containment==0",
    ]
    own = scenario_file(tmp_path, "[objectives]\nrto_s = 3\nrpo_s = 2\n", name="own",
                        top='thresholds = ["rto<8s", "rpo==0"]')  # fmt: skip
    extra = parse_thresholds(["p(95)<1s"], "--threshold")
    assert expressions(scenario_thresholds(load_scenario(own), extra)) == [
        "rto<8s", "rpo==0", "p(95)<1s"]  # fmt: skip


def test_without_any_rto_threshold_the_observation_bounds_it(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file(tmp_path))
    assert expressions(scenario_thresholds(scenario)) == ["rto<=6s"]


def test_profile_fitted_ramp_in_warmup_ramp_down_in_cooldown() -> None:
    light = Profile(
        "light",
        (
            Stage("ramp", 10.0, 10, 50.0),
            Stage("steady", 40.0, 10, 50.0),
            Stage("ramp-down", 10.0, 0, 0.0),
        ),
    )
    phases = Phases(warmup_s=5.0, steady_check_s=5.0, observe_s=18.0, cooldown_s=2.0)
    fitted = fit_profile(light, phases, 30.0)
    assert [(s.name, s.duration_s, s.users) for s in fitted.stages] == [
        ("ramp", 2.5, 10),
        ("steady", 25.5, 10),
        ("ramp-down", 2.0, 0),
    ]
    assert fitted.duration_s == pytest.approx(30.0)
    no_cooldown = fit_profile(light, Phases(cooldown_s=0.0), 32.0)
    assert [s.name for s in no_cooldown.stages] == ["ramp", "steady"]


def test_a_profile_that_only_ramps_holds_its_peak() -> None:
    ramp_only = Profile("r", (Stage("up", 4.0, 8, 80.0),))
    fitted = fit_profile(ramp_only, Phases(warmup_s=2.0, cooldown_s=1.0), 20.0)
    assert [(s.name, s.users, s.rate_per_s) for s in fitted.stages] == [
        ("up", 8, 80.0),
        ("steady", 8, 80.0),
    ]
    assert fitted.stages[0].duration_s == pytest.approx(1.0)
    assert fitted.duration_s == pytest.approx(20.0)


def test_extreme_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(base("x").replace(
        'profile = { stages = [{ duration = "2s", users = 4, rate_per_s = 40 }] }',
        'profile = "extreme"'), encoding="utf-8")  # fmt: skip
    message = config_error(path)
    assert "x.toml: profile" in message and "extreme" in message


def test_a_bad_inline_profile_names_the_file_and_key_once(tmp_path: Path) -> None:
    path = tmp_path / "y.toml"
    path.write_text(base("y").replace(
        '{ duration = "2s", users = 4, rate_per_s = 40 }',
        '{ duration = "2s", executor = "arrival-rate", rate_per_s = 40, max_in_flight = "x" }'),
        encoding="utf-8")  # fmt: skip
    message = config_error(path)
    assert (
        message == f"{path}: profile: stages[0].max_in_flight: expected an integer, got string 'x'"
    )


SHAPE_FILE = """
import locust


class Reader(locust.HttpUser):
    @locust.task
    def read(self):
        self.client.get("/")


class Waves(locust.LoadTestShape):
    def tick(self):
        return None
"""


def test_a_locustfile_with_a_shape_is_refused_when_the_suite_checks_its_files(
    tmp_path: Path,
) -> None:
    """Found before any scenario of the suite runs (it was found only at its own turn)."""
    (tmp_path / "users.py").write_text(SHAPE_FILE, encoding="utf-8")
    good = scenario_file(tmp_path, name="a")
    shaped = scenario_file(tmp_path, name="b", top='locustfile = "users.py"')
    message = config_error(shaped)
    assert message.startswith(f"{shaped}: locustfile: ") and "LoadTestShape Waves" in message
    with pytest.raises(ConfigError, match=r"b\.toml: locustfile: .*LoadTestShape Waves"):
        prepare_suite([good, shaped], out_dir=tmp_path / "suite")
    flagged = config_error(good, locustfile=tmp_path / "users.py")
    assert flagged.startswith("--locustfile ") and "LoadTestShape Waves" in flagged


def test_dr_fault_needs_the_deployment(tmp_path: Path) -> None:
    path = scenario_file(tmp_path).parent / "dr.toml"
    path.write_text(base("dr").replace('type = "command"\nparams = { command = "true" }',
                    'type = "api_failure"'), encoding="utf-8")  # fmt: skip
    message = config_error(path)
    assert "dr.toml: target" in message and 'target = "deployment"' in message


def test_bad_runbook_action_names_the_step(tmp_path: Path) -> None:
    text = base("rb") + (
        '[recovery]\nmode = "runbook"\n[[recovery.steps]]\naction = "restore_bakup"\nafter_s = 1\n'
    )
    path = tmp_path / "rb.toml"
    path.write_text(text, encoding="utf-8")
    message = config_error(path)
    assert "rb.toml: recovery.steps[0].action" in message and "restore_backup" in message


def test_bad_threshold_flag_and_workers(tmp_path: Path) -> None:
    path = scenario_file(tmp_path)
    assert "--threshold" in config_error(path, thresholds=["p(101)<1s"])
    assert "--workers" in config_error(path, workers=0)


def test_deployment_table_is_read_checked_and_stored(tmp_path: Path) -> None:
    text = base("d").replace('target = "http://127.0.0.1:9"', 'target = "deployment"')
    path = tmp_path / "d.toml"
    path.write_text(text + "[deployment]\nstandby_interval_s = \"2500ms\"\nseed_items = 300\n",
                    encoding="utf-8")  # fmt: skip
    scenario = prepare_scenario(path).scenario
    assert scenario.deployment.standby_interval_s == 2.5
    assert scenario.deployment.seed_items == 300
    stored = scenario_to_dict(scenario)
    assert stored["deployment"]["standby_interval_s"] == 2.5
    assert scenario_from_mapping(stored, "run.json").deployment == scenario.deployment
    url = scenario_file(tmp_path, "[deployment]\nseed_items = 3\n", name="u")
    assert "u.toml: deployment" in config_error(url)
    typo = tmp_path / "t.toml"
    typo.write_text(text + "[deployment]\nstandby_intervall_s = 2\n", encoding="utf-8")
    assert "standby_interval_s" in config_error(typo)


def test_duration_rescales_and_fits_the_profile(tmp_path: Path) -> None:
    config = prepare_scenario(scenario_file(tmp_path), duration_s=22.0)
    assert config.scenario.duration_s == pytest.approx(22.0)
    assert scenario_profile(config.scenario).duration_s == pytest.approx(22.0)


def test_every_shipped_scenario_is_ready_to_run() -> None:
    for path in sorted(SHIPPED.glob("*.toml")):
        config = prepare_scenario(path)
        assert config.scenario.target.kind == "deployment"
        assert any(t.name == "rto" for t in config.all_thresholds())
        assert min_total_s(config.scenario) <= config.scenario.duration_s  # as shipped it fits


def test_duration_too_short_for_the_objective_is_refused_with_the_minimum(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from harness.cli import main

    corruption = SHIPPED / "data-corruption.toml"
    assert main(["scenario", str(corruption), "--duration", "30s"]) == 2
    err = capsys.readouterr().err
    assert "--duration 30s: too short for scenario data-corruption" in err
    assert "the RTO objective (30s) and one window (3s) need an observation of at least 33s" in err
    assert "expected at least 45s" in err and len(err.strip().splitlines()) == 1
    assert prepare_scenario(corruption, duration_s=45.0).scenario.phases.observe_s >= 33.0
    # the suite checks every scenario before the first starts
    assert main(["suite", str(SHIPPED), "--duration", "30s", "--out", "/nonexistent/x"]) == 2
    assert "too short for scenario complete-outage" in capsys.readouterr().err


def test_an_observation_shorter_than_the_runbook_or_the_hold_needs_is_refused(
    tmp_path: Path,
) -> None:
    runbook = (
        '[recovery]\nmode = "runbook"\n[[recovery.steps]]\naction = "wait_ready"\nafter_s = 5\n'
    )
    message = config_error(scenario_file(tmp_path, runbook, name="late"))
    assert "late.toml: phases.observe_s: scenario late: the runbook's last step" in message
    assert "(wait_ready at 5s) and one window (3s) need an observation of at least 8s" in message
    held = scenario_file(tmp_path, name="held").read_text(encoding="utf-8")
    (tmp_path / "held.toml").write_text(held.replace("[fault]", "[fault]\nduration_s = 5"))
    with pytest.raises(ConfigError, match=r"--duration 8s: too short .* fault's hold"):
        prepare_scenario(tmp_path / "held.toml", duration_s=8.0)


def test_suite_checks_every_file_before_anything_starts(tmp_path: Path) -> None:
    scenario_file(tmp_path, name="a")
    scenario_file(tmp_path, name="b")
    assert [p.name for p in scenario_files([tmp_path])] == ["a.toml", "b.toml"]
    plan = prepare_suite([tmp_path], out_dir=tmp_path / "out", duration_s=20.0)
    assert plan.run_dir(1) == tmp_path / "out" / "b"
    command = scenario_command(plan, 0)
    assert command[3:5] == ["scenario", str(tmp_path / "a.toml")]
    assert command[command.index("--duration") :][:2] == ["--duration", "20s"]
    (tmp_path / "c.toml").write_text(base("c", "bogus = 1"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.toml: bogus"):
        prepare_suite([tmp_path], out_dir=tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_suite_refuses_two_scenarios_with_one_name(tmp_path: Path) -> None:
    first = scenario_file(tmp_path, name="same")
    second = tmp_path / "other.toml"
    second.write_text(first.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError, match="also used by"):
        prepare_suite([first, second], out_dir=tmp_path / "out")
    with pytest.raises(ConfigError, match="no such file"):
        prepare_suite([tmp_path / "missing.toml"])


def test_suite_refuses_an_out_folder_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    path = scenario_file(tmp_path, name="a")
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("an earlier suite's index", encoding="utf-8")
    assert main(["suite", str(path), "--out", str(out)]) == 2
    assert f"--out {out}: directory is not empty" in capsys.readouterr().err
    assert (out / "index.html").read_text(encoding="utf-8") == "an earlier suite's index"
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="found a file"):
        prepare_suite([path], out_dir=tmp_path / "file")
    assert prepare_suite([path], out_dir=tmp_path / "empty").out_dir == tmp_path / "empty"


def test_importing_the_runner_and_its_commands_patches_nothing() -> None:
    import subprocess
    import sys

    code = (
        "import sys, harness.runner, harness.runner.suite, harness.report.tables, "
        "harness.commands.scenario, harness.commands.suite;"
        "print(','.join(m for m in ('locust', 'gevent') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_locustfile_key_is_relative_to_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "users").mkdir()
    own = tmp_path / "users" / "mine.py"
    own.write_text("x = 1\n", encoding="utf-8")
    path = scenario_file(tmp_path, top='locustfile = "users/mine.py"')
    config = prepare_scenario(path)
    assert config.locustfile == own.resolve()
    assert scenario_from_mapping(scenario_to_dict(config.scenario), "run.json").locustfile == str(
        own.resolve()
    )
    flag = tmp_path / "other.py"
    flag.write_text("y = 2\n", encoding="utf-8")
    assert prepare_scenario(path, locustfile=flag).locustfile == flag.resolve()


def test_a_missing_or_broken_locustfile_is_bad_input(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, top='locustfile = "nope.py"')
    assert config_error(path).startswith(f"{path}: locustfile: no such file")
    (tmp_path / "bad.py").write_text("def (:\n", encoding="utf-8")
    message = config_error(scenario_file(tmp_path), locustfile=tmp_path / "bad.py")
    assert "--locustfile" in message and "syntax error at line 1" in message


def test_a_fault_whose_target_does_not_answer_is_bad_input(tmp_path: Path) -> None:
    text = base("dead").replace(
        'type = "command"\nparams = { command = "true" }',
        'type = "patroni"\nparams = { api = "http://127.0.0.1:9", action = "switchover" }',
    )
    path = tmp_path / "dead.toml"
    path.write_text(text, encoding="utf-8")
    message = config_error(path)
    assert message.startswith(f"{path}: fault.params.api: Patroni REST API at http://127.0.0.1:9")
