"""Toxics: the network faults the router applies, modelled on Toxiproxy's.

A toxic has a `scope`: `"listener"` (the link between clients and the router: every
connection) or an upstream's name (the link between the router and that region: its
connections *and* the router's health checks to it, so a region cut off at the router is
also seen as unhealthy and failed over). Pure data and validation; no sockets, no gevent.

| type | attributes | effect |
| --- | --- | --- |
| `latency` | `latency_ms`, `jitter_ms` | delays each chunk on `stream` by latency ± jitter |
| `timeout` | `timeout_ms` (0 = never) | holds data both ways (blackhole); closes after timeout |
| `reset_peer` | `timeout_ms` | resets (RST) the client connection after timeout_ms |
| `down` | (none) | listener: stops accepting (refused); upstream: unreachable |
| `bandwidth` | `rate_kbps` | at most rate_kbps KB (1000 bytes) per second on `stream` |
| `limit_data` | `bytes` | closes the connection once `bytes` have passed on `stream` |

The same toxics, under Toxiproxy's names and attributes, are reachable through the
Toxiproxy HTTP API subset the router also serves (`harness.topology.toxiproxy_api`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from harness.errors import ConfigError

ToxicType = Literal["latency", "timeout", "reset_peer", "down", "bandwidth", "limit_data"]
Stream = Literal["upstream", "downstream", "both"]

TOXIC_TYPES: tuple[ToxicType, ...] = (
    "latency",
    "timeout",
    "reset_peer",
    "down",
    "bandwidth",
    "limit_data",
)
STREAMS: tuple[Stream, ...] = ("upstream", "downstream", "both")
LISTENER = "listener"
_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency_ms", "jitter_ms"),
    "timeout": ("timeout_ms",),
    "reset_peer": ("timeout_ms",),
    "down": (),
    "bandwidth": ("rate_kbps",),
    "limit_data": ("bytes",),
}
_MAX_MS = 3_600_000.0
_MAX = {"rate_kbps": 1e9, "bytes": 1e15}


@dataclass(frozen=True)
class Toxic:
    """One active network fault.

    `stream` is the direction a `latency` toxic delays: `downstream` (towards the client,
    Toxiproxy's default), `upstream` (towards the service) or `both`. `toxicity` is the
    probability (0..1) that the toxic applies to a given connection or health check,
    decided once per connection.
    """

    name: str
    type: ToxicType
    scope: str = LISTENER
    stream: Stream = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, float] = field(default_factory=dict)

    def attribute(self, key: str) -> float:
        """An attribute's value in its unit (named in the key), 0 when unset."""
        return float(self.attributes.get(key, 0.0))

    def delays(self, stream: Literal["upstream", "downstream"]) -> bool:
        """True when this is a latency toxic acting on `stream`."""
        return self.type == "latency" and self.stream in (stream, "both")

    def acts_on(self, stream: Literal["upstream", "downstream"]) -> bool:
        """True when this toxic's `stream` covers `stream`."""
        return self.stream in (stream, "both")

    def delay_s(self, rng: random.Random) -> float:
        """One chunk's delay in seconds: latency plus uniform jitter, never negative."""
        jitter_ms = self.attribute("jitter_ms")
        delay_ms = self.attribute("latency_ms")
        if jitter_ms > 0:
            delay_ms += rng.uniform(-jitter_ms, jitter_ms)
        return max(0.0, delay_ms) / 1000.0

    def to_json(self) -> dict[str, Any]:
        """The control API's representation."""
        return {
            "name": self.name,
            "type": self.type,
            "scope": self.scope,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


def toxic_from_json(data: Any, scopes: Iterable[str], default_name: str) -> Toxic:
    """Validate a control-API request body into a Toxic.

    `scopes` are the valid scope names (`listener` and every upstream). Raises ConfigError
    naming the field and what was expected.
    """
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object", "toxic")
    known = {"name", "type", "scope", "stream", "toxicity", "attributes"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown fields {unknown}; expected some of {sorted(known)}", "toxic")
    kind = data.get("type")
    if kind not in TOXIC_TYPES:
        raise ConfigError(f"expected one of {list(TOXIC_TYPES)}, got {kind!r}", "toxic.type")
    scope = data.get("scope", LISTENER)
    valid_scopes = sorted(set(scopes) | {LISTENER})
    if scope not in valid_scopes:
        raise ConfigError(f"expected one of {valid_scopes}, got {scope!r}", "toxic.scope")
    stream = data.get("stream", "downstream")
    if stream not in STREAMS:
        raise ConfigError(f"expected one of {list(STREAMS)}, got {stream!r}", "toxic.stream")
    name = data.get("name") or default_name
    if not isinstance(name, str) or not name or "/" in name or len(name) > 100:
        raise ConfigError(f"expected a short name without '/', got {name!r}", "toxic.name")
    toxicity = _number(data.get("toxicity", 1.0), "toxic.toxicity", 0.0, 1.0)
    if kind == "down" and toxicity != 1.0:
        raise ConfigError("a down toxic applies to everything: toxicity must be 1", "toxic")
    attributes = _attributes(kind, data.get("attributes", {}))
    return Toxic(
        name=name,
        type=cast(ToxicType, kind),
        scope=scope,
        stream=cast(Stream, stream),
        toxicity=toxicity,
        attributes=attributes,
    )


def _attributes(kind: str, raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise ConfigError("expected a JSON object", "toxic.attributes")
    allowed = _ATTRIBUTES[kind]
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown attributes {unknown} for a {kind} toxic; expected {list(allowed)}",
            "toxic.attributes",
        )
    return {
        key: _number(raw.get(key, 0), f"toxic.attributes.{key}", 0, _MAX.get(key, _MAX_MS))
        for key in allowed
    }


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"expected a number in {low:g}..{high:g}, got {value!r}", where)
    if not low <= float(value) <= high:
        raise ConfigError(f"expected a number in {low:g}..{high:g}, got {value!r}", where)
    return float(value)


@dataclass(frozen=True)
class Effect:
    """What the toxics in force mean for one connection (or one health check).

    Each toxic with toxicity < 1 is sampled once, when the effect is computed, so a
    connection keeps the same fate for as long as the toxic set is unchanged.
    """

    down: bool = False
    hold: bool = False
    hold_timeout_ms: float = 0.0
    reset: bool = False
    reset_timeout_ms: float = 0.0
    latency: tuple[Toxic, ...] = ()
    shaping: tuple[Toxic, ...] = ()
    """`bandwidth` and `limit_data` toxics in force."""

    def delay_s(self, stream: Literal["upstream", "downstream"], rng: random.Random) -> float:
        """The summed delay of every latency toxic acting on `stream`."""
        return sum(toxic.delay_s(rng) for toxic in self.latency if toxic.delays(stream))

    def rate_bytes_per_s(self, stream: Literal["upstream", "downstream"]) -> float | None:
        """The tightest bandwidth limit on `stream`, in bytes per second (None: unlimited)."""
        rates = [t.attribute("rate_kbps") * 1000 for t in self.shaping
                 if t.type == "bandwidth" and t.acts_on(stream)]  # fmt: skip
        return min(rates) if rates else None

    def byte_limit(self, stream: Literal["upstream", "downstream"]) -> float | None:
        """The smallest `limit_data` on `stream` (None: unlimited)."""
        limits = [t.attribute("bytes") for t in self.shaping
                  if t.type == "limit_data" and t.acts_on(stream)]  # fmt: skip
        return min(limits) if limits else None


def effect_of(toxics: Iterable[Toxic], scopes: Iterable[str], rng: random.Random) -> Effect:
    """Combine the toxics whose scope is in `scopes` into one Effect for a connection."""
    wanted = set(scopes)
    down = hold = reset = False
    hold_ms = reset_ms = 0.0
    latency: list[Toxic] = []
    shaping: list[Toxic] = []
    for toxic in toxics:
        if toxic.scope not in wanted:
            continue
        if toxic.toxicity < 1.0 and rng.random() >= toxic.toxicity:
            continue
        if toxic.type == "down":
            down = True
        elif toxic.type == "timeout":
            hold = True
            hold_ms = _soonest(hold_ms, toxic.attribute("timeout_ms"))
        elif toxic.type == "reset_peer":
            after_ms = toxic.attribute("timeout_ms")
            reset_ms = min(reset_ms, after_ms) if reset else after_ms
            reset = True
        elif toxic.type in ("bandwidth", "limit_data"):
            shaping.append(toxic)
        else:
            latency.append(toxic)
    return Effect(down, hold, hold_ms, reset, reset_ms, tuple(latency), tuple(shaping))


def _soonest(current_ms: float, new_ms: float) -> float:
    """Combine two hold timeouts, where 0 means 'never'."""
    if current_ms == 0:
        return new_ms
    if new_ms == 0:
        return current_ms
    return min(current_ms, new_ms)
