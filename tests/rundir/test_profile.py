"""profile.json: typed, versioned, written and read back whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.rundir import (
    Plan,
    Profile,
    ProfileSource,
    Recommendation,
    RecordError,
    StatementStat,
    read_profile,
    write_profile,
)


def test_a_profile_round_trips_with_its_derived_figures(tmp_path: Path) -> None:
    rec = Recommendation(
        sql="SELECT * FROM t WHERE a = ?",
        create_index="CREATE INDEX t_a ON t (a)",
        before_ms=4.0,
        after_ms=0.5,
        index_bytes=8192,
        insert_before_us=10.0,
        insert_after_us=14.0,
    )
    source = ProfileSource(
        source="service",
        database="sqlite",
        window_s=5.0,
        db_time_ms=10.0,
        statements=(StatementStat("SELECT * FROM t WHERE a = ?", 4, 8.0, 4, 0.8, "GET /x"),),
        plans=(Plan("SELECT * FROM t WHERE a = ?", ("SCAN t",), ("t(a)",)),),
        recommendations=(rec,),
    )
    write_profile(tmp_path, Profile(sources=(source,)))
    raw = json.loads((tmp_path / "profile.json").read_text())
    assert raw["version"] == 1 and raw["sources"][0]["recommendations"][0]["speedup"] == 8.0
    assert raw["sources"][0]["statements"][0]["mean_ms"] == 2.0
    again = read_profile(tmp_path)
    assert again == Profile(sources=(source,))
    assert again.sources[0].recommendations[0].write_cost_us == 4.0


def test_another_version_or_a_wrong_field_is_refused_by_name(tmp_path: Path) -> None:
    assert read_profile(tmp_path) is None
    (tmp_path / "profile.json").write_text('{"version": 2, "sources": []}')
    with pytest.raises(RecordError, match="version"):
        read_profile(tmp_path)
    bad = {"version": 1, "sources": [{"source": "service", "database": "sqlite",
                                      "window_s": "x", "db_time_ms": 1}]}  # fmt: skip
    (tmp_path / "profile.json").write_text(json.dumps(bad))
    with pytest.raises(RecordError, match="window_s"):
        read_profile(tmp_path)
