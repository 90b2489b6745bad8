"""Toxic validation and how toxics combine into one connection's effect."""

from __future__ import annotations

import random

import pytest

from harness.errors import ConfigError
from harness.topology.toxics import LISTENER, effect_of, toxic_from_json

SCOPES = ["a", "b"]


def toxic(**body: object):  # type: ignore[no-untyped-def]
    return toxic_from_json(dict(body), SCOPES, default_name="t1")


def test_a_latency_toxic_round_trips_through_json() -> None:
    made = toxic(type="latency", scope="a", attributes={"latency_ms": 200, "jitter_ms": 10})
    assert made.name == "t1" and made.scope == "a" and made.stream == "downstream"
    assert made.attributes == {"latency_ms": 200.0, "jitter_ms": 10.0}
    assert toxic_from_json(made.to_json(), SCOPES, "other") == made


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"type": "slow"}, "toxic.type"),
        ({"type": "latency", "scope": "c"}, "toxic.scope"),
        ({"type": "latency", "stream": "sideways"}, "toxic.stream"),
        ({"type": "latency", "toxicity": 1.5}, "toxic.toxicity"),
        ({"type": "latency", "attributes": {"latency": 5}}, "toxic.attributes"),
        ({"type": "latency", "attributes": {"latency_ms": -1}}, "toxic.attributes.latency_ms"),
        ({"type": "latency", "name": "a/b"}, "toxic.name"),
        ({"type": "down", "toxicity": 0.5}, "toxic"),
        ({"type": "latency", "colour": "red"}, "toxic"),
    ],
)
def test_bad_toxics_name_the_field(body: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        toxic(**body)
    assert info.value.where == where


def test_effect_combines_only_the_scopes_asked_for() -> None:
    rng = random.Random(1)
    toxics = [
        toxic(name="lat", type="latency", scope=LISTENER, attributes={"latency_ms": 100}),
        toxic(name="lat-a", type="latency", scope="a", attributes={"latency_ms": 50}),
        toxic(name="hold-b", type="timeout", scope="b", attributes={"timeout_ms": 300}),
        toxic(name="down-b", type="down", scope="b"),
    ]
    on_a = effect_of(toxics, (LISTENER, "a"), rng)
    assert not on_a.down and not on_a.hold
    assert on_a.delay_s("downstream", rng) == pytest.approx(0.150)
    assert on_a.delay_s("upstream", rng) == 0
    on_b = effect_of(toxics, (LISTENER, "b"), rng)
    assert on_b.down and on_b.hold and on_b.hold_timeout_ms == 300


def test_toxicity_samples_per_connection() -> None:
    rng = random.Random(7)
    partial = [toxic(type="reset_peer", toxicity=0.3)]
    hits = sum(effect_of(partial, (LISTENER,), rng).reset for _ in range(2000))
    assert 450 < hits < 750


def test_jitter_stays_within_bounds_and_never_goes_negative() -> None:
    rng = random.Random(3)
    jittery = toxic(type="latency", stream="both", attributes={"latency_ms": 10, "jitter_ms": 30})
    delays = [jittery.delay_s(rng) for _ in range(500)]
    assert min(delays) == 0.0 and max(delays) <= 0.040
    assert jittery.delays("upstream") and jittery.delays("downstream")
