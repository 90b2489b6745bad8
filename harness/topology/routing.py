"""The router's routing decisions: endpoint health with hysteresis, the active region, failover.

Pure state driven by check results and timestamps, so the rules are tested without sockets.

Rules (docs/topology.md):
- An endpoint's first check sets its health; after that it turns unhealthy after `fall`
  failed checks in a row and healthy again after `rise` good ones. A refused connection
  counts as a failed check (passive health), so a dead process is noticed at once.
- A region is healthy while at least one of its endpoints is.
- The active region is the primary while it is healthy; otherwise the first healthy region
  in configured order. With `failback`, traffic returns to the primary as soon as it is
  healthy again; without, it stays where it is until that region fails.
- New connections go to the active region's healthy endpoints (round-robin), then to the
  other healthy regions' endpoints, then, as a last resort, to the unhealthy ones in
  configured order (health lags reality; a connection attempt is the ground truth). An
  endpoint that refuses the connection is skipped for the next one at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """One upstream address; several endpoints with the same region name form one region."""

    region: str
    host: str
    port: int

    @property
    def key(self) -> str:
        """`region@host:port`, unique per endpoint."""
        return f"{self.region}@{self.host}:{self.port}"


@dataclass
class EndpointHealth:
    """Health of one endpoint, with the streaks that give it hysteresis."""

    endpoint: Endpoint
    healthy: bool = True
    checked: bool = False
    ok_streak: int = 0
    fail_streak: int = 0
    detail: str = "not checked yet"
    since_t: float = 0.0
    checks: int = 0
    failures: int = 0


@dataclass
class RoutingTable:
    """Endpoint health and the active region; `record` returns the events it caused."""

    endpoints: Sequence[Endpoint]
    primary: str | None = None
    rise: int = 2
    fall: int = 2
    failback: bool = True
    health: dict[str, EndpointHealth] = field(init=False)
    regions: list[str] = field(init=False)
    active: str | None = field(init=False)
    _turn: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("a router needs at least one upstream")
        self.health = {ep.key: EndpointHealth(ep) for ep in self.endpoints}
        order: list[str] = []
        for ep in self.endpoints:
            if ep.region not in order:
                order.append(ep.region)
        if self.primary is not None:
            if self.primary not in order:
                raise ValueError(f"primary {self.primary!r} is not one of {order}")
            order.remove(self.primary)
            order.insert(0, self.primary)
        self.regions = order
        self.active = order[0]
        self._turn = dict.fromkeys(order, 0)

    @property
    def ready(self) -> bool:
        """True once every endpoint has been checked at least once."""
        return all(state.checked for state in self.health.values())

    def region_healthy(self, region: str) -> bool:
        """True while at least one of the region's endpoints is healthy."""
        return any(s.healthy for s in self.health.values() if s.endpoint.region == region)

    def record(self, key: str, ok: bool, detail: str, now: float) -> list[dict[str, Any]]:
        """Apply one check result (or a passive failure) and return the events it caused."""
        state = self.health[key]
        region = state.endpoint.region
        region_was = self.region_healthy(region)
        state.checks += 1
        state.failures += 0 if ok else 1
        state.ok_streak = state.ok_streak + 1 if ok else 0
        state.fail_streak = 0 if ok else state.fail_streak + 1
        if not state.checked or state.healthy != ok:
            state.detail = detail
        events: list[dict[str, Any]] = []
        flips = (not state.checked and state.healthy != ok) or (
            state.checked
            and (
                (state.healthy and state.fail_streak >= self.fall)
                or (not state.healthy and state.ok_streak >= self.rise)
            )
        )
        state.checked = True
        if flips:
            state.healthy = ok
            state.since_t = now
            events.append(
                {"kind": "endpoint_health", "region": region, "endpoint": key, "healthy": ok}
                | {"detail": detail, "t": now}
            )
        if self.region_healthy(region) != region_was:
            events.append(
                {"kind": "region_health", "region": region, "healthy": not region_was}
                | {"detail": detail, "t": now}
            )
            events.extend(self._reselect(now, f"region {region} {_word(not region_was)}"))
        return events

    def _reselect(self, now: float, reason: str) -> list[dict[str, Any]]:
        healthy = [r for r in self.regions if self.region_healthy(r)]
        if self.failback or self.active not in healthy:
            new = healthy[0] if healthy else None
        else:
            new = self.active
        if new == self.active:
            return []
        old, self.active = self.active, new
        return [{"kind": "route_changed", "from": old, "to": new, "reason": reason, "t": now}]

    def candidates(self) -> list[Endpoint]:
        """Endpoints to try for a new connection, in order (see the module's rules)."""
        healthy_regions = [r for r in self.regions if self.region_healthy(r)]
        if self.active in healthy_regions:
            healthy_regions.remove(self.active)
            healthy_regions.insert(0, self.active)
        chosen: list[Endpoint] = []
        for region in healthy_regions:
            chosen.extend(self._rotated(region, healthy_only=True))
        # Last resort, in configured order: health lags reality, a connection attempt does not.
        chosen.extend(s.endpoint for s in self.health.values() if s.endpoint not in chosen)
        return chosen

    def _rotated(self, region: str, healthy_only: bool) -> list[Endpoint]:
        members = [
            s.endpoint
            for s in self.health.values()
            if s.endpoint.region == region and (s.healthy or not healthy_only)
        ]
        if len(members) < 2:
            return members
        turn = self._turn[region] % len(members)
        self._turn[region] += 1
        return members[turn:] + members[:turn]

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state for the control API's /status."""
        return {
            "active": self.active,
            "primary": self.regions[0],
            "ready": self.ready,
            "regions": {r: {"healthy": self.region_healthy(r)} for r in self.regions},
            "endpoints": [
                {
                    "key": key,
                    "region": s.endpoint.region,
                    "host": s.endpoint.host,
                    "port": s.endpoint.port,
                    "healthy": s.healthy,
                    "checked": s.checked,
                    "detail": s.detail,
                    "since_t": s.since_t,
                    "checks": s.checks,
                    "failures": s.failures,
                }
                for key, s in self.health.items()
            ],
        }


def _word(healthy: bool) -> str:
    return "healthy" if healthy else "unhealthy"
