"""service-stats.json: the reference service's own counters at the end of a run, as types.

`harness.load.service_stats` writes it (docs/service.md: `GET /admin/cdn/stats` and the
`harness_auth_*` gauges); a `service_stats` event carries the same two objects. The
report reads it through `ServiceStats` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.rundir.fields import JSONObject, int_map, opt_object, req_int

SERVICE_STATS_FILE = "service-stats.json"


@dataclass(frozen=True)
class CdnCounters:
    """The edge cache's counters: hits, misses, stale served, bypassed (no-store)."""

    hits: int = 0
    misses: int = 0
    stale: int = 0
    bypass: int = 0

    @property
    def hit_ratio(self) -> float | None:
        """(hits + stale) / cacheable requests; None when nothing was cacheable."""
        cacheable = self.hits + self.misses + self.stale
        return (self.hits + self.stale) / cacheable if cacheable else None

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> CdnCounters:
        """From the `cdn` object (its other fields are the service's, not read here)."""
        return cls(*(req_int(data, k, where) for k in ("hits", "misses", "stale", "bypass")))


@dataclass(frozen=True)
class ServiceStats:
    """The service's counters: the edge cache's (None when absent) and access control's."""

    cdn: CdnCounters | None = None
    auth: dict[str, int] = field(default_factory=dict)
    """Outcome counts by name: public, allowed, unauthorized, forbidden, not_routed."""

    def auth_count(self, outcome: str) -> int | None:
        """One access-control outcome's count; None when the service did not report it."""
        return self.auth.get(outcome)

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = SERVICE_STATS_FILE) -> ServiceStats:
        """From service-stats.json or a `service_stats` event (RecordError for a bad field)."""
        cdn = opt_object(data, "cdn", where)
        return cls(
            cdn=CdnCounters.from_dict(cdn, f"{where}: cdn") if cdn else None,
            auth=int_map(data, "auth", where),
        )
