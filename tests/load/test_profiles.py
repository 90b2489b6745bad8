"""Profiles: the shipped files, stage arithmetic, rescaling and malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load.profile_file import load_profile
from harness.load.profiles import (
    BUILTIN_PROFILES,
    Stage,
    constant_profile,
    stage_at,
    stage_pacing,
)


@pytest.mark.parametrize("name", BUILTIN_PROFILES)
def test_shipped_profiles_load(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.duration_s > 0
    assert profile.objectives.thresholds()
    assert profile.paced


def test_shipped_rates_grow_light_to_heavy() -> None:
    steady = {n: load_profile(n).stages[1] for n in ("light", "moderate", "heavy")}
    assert [steady[n].rate_per_s for n in ("light", "moderate", "heavy")] == [50, 200, 1000]
    for stage in steady.values():
        assert stage.rate_per_s is not None
        assert stage.users * (stage.rate_per_s / stage.users) == pytest.approx(stage.rate_per_s)


def test_stage_math_ramp_steady_down() -> None:
    stages = (
        Stage("ramp", 10.0, 20, 100.0),
        Stage("steady", 30.0, 20, 100.0),
        Stage("down", 5.0, 0, 0.0),
    )
    first = stage_at(stages, 0.0)
    assert first is not None and first.index == 0
    assert first.spawn_rate == pytest.approx(2.0)  # 20 users over 10 s
    assert first.per_user_rate_per_s == pytest.approx(5.0)
    steady = stage_at(stages, 10.0)
    assert steady is not None and steady.stage.name == "steady" and steady.stage_start_s == 10.0
    down = stage_at(stages, 44.9)
    assert down is not None and down.users == 0 and down.spawn_rate == pytest.approx(4.0)
    # a stage without users keeps the pacing before it (users leave at the same pace)
    assert stage_pacing(stages, 2) == pytest.approx(5.0)
    assert stage_at(stages, 45.0) is None


def test_rescale_keeps_proportions() -> None:
    profile = load_profile("light")
    short = profile.rescaled(12.0)
    assert short.duration_s == pytest.approx(12.0)
    ratios = [s.duration_s / profile.duration_s * 12.0 for s in profile.stages]
    assert [s.duration_s for s in short.stages] == pytest.approx(ratios)
    assert [s.users for s in short.stages] == [s.users for s in profile.stages]


def test_rescale_extreme_and_too_short() -> None:
    extreme = load_profile("extreme")
    assert extreme.extreme is not None
    scaled = extreme.rescaled(120.0)
    assert scaled.duration_s == pytest.approx(120.0)
    with pytest.raises(ConfigError, match="--duration"):
        extreme.rescaled(10.0)


def test_constant_profile_is_unpaced() -> None:
    profile = constant_profile(5, 2.0, 30.0)
    assert not profile.paced and profile.duration_s == 30.0
    with pytest.raises(ConfigError, match="--users"):
        constant_profile(0, 1.0, 30.0)


def test_unknown_name_lists_known(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_profile("nope", cwd=tmp_path)
    assert "--profile" in str(info.value) and "light" in str(info.value)


def test_local_profiles_dir_first(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios" / "profiles"
    folder.mkdir(parents=True)
    (folder / "light.toml").write_text(
        'name = "mine"\n[[stages]]\nduration = "3s"\nusers = 1\n', encoding="utf-8"
    )
    assert load_profile("light", cwd=tmp_path).name == "mine"


BAD = [
    ("stages = 3", "stages", "array of tables"),
    ('[[stages]]\nduration = "x"\nusers = 1', "stages[0].duration", "duration"),
    ('[[stages]]\nduration = "3s"\nusers = -1', "stages[0].users", "integer >= 0"),
    ('[[stages]]\nduration = "3s"\nusers = 1\nrate = 3', "stages[0].rate", "one of"),
    ('[[stages]]\nduration = "3s"\nusers = 1\n[objectives]\nerror_rate = 5', "error_rate", "0..1"),
    ("[extreme]\nmax_steps = 0", "extreme.max_steps", "integer >= 1"),
    ("this is = = not toml", "", "not valid TOML"),
    (
        'thresholds = [{ threshold = "p(95)<1s", abort_on_fail = 1 }]\n[[stages]]\n'
        'duration = "3s"\nusers = 1',
        "thresholds[0].abort_on_fail",
        "true or false",
    ),
]


@pytest.mark.parametrize(("text", "key", "expected"), BAD)
def test_malformed_files_name_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    message = str(info.value)
    assert str(path) in message and key in message and expected in message


def test_a_profile_s_own_thresholds_and_abort_rules(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'thresholds = ["rps>1", { threshold = "p(95)<500ms", abort_on_fail = true, '
        'delay_abort_eval = "10s" }]\n[[stages]]\nduration = "3s"\nusers = 1\n',
        encoding="utf-8",
    )
    profile = load_profile(str(path))
    assert [t.expr for t in profile.thresholds] == ["rps>1", "p(95)<500ms"]
    assert [(r.expr, r.delay_s) for r in profile.aborts] == [("p(95)<500ms", 10.0)]
