"""The edge cache's policy per tier: Cache-Control, freshness windows, ETag matching,
and which generation slot makes an entry stale.

Generation slots (in `<state_dir>/generation`): 0 is bumped by a purge, 1 by any successful
write under /api/items (list and bulk entries), 2 + item_id % ITEM_SLOTS by a write to that
item (its own entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.service.rbac import ROUTES

NO_STORE = "no-store"
ITEM_SLOTS = 4096
"""Per-item generation slots (items share a slot modulo this; a clash costs a miss)."""
PURGE_SLOT, COLLECTION_SLOT, FIRST_ITEM_SLOT = 0, 1, 2
GENERATION_SLOTS = FIRST_ITEM_SLOT + ITEM_SLOTS


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """A tier's Cache-Control header and how the edge applies it (windows in seconds).

    `vary` names the request header that is part of the cache key; `vary_environ` is the
    same header as a WSGI environ key.
    """

    tier: str
    cache_control: str
    fresh_s: float
    stale_while_revalidate_s: float = 0.0
    stale_if_error_s: float = 0.0
    vary: str | None = None
    vary_environ: str | None = None


POLICIES: dict[str, TierPolicy] = {
    "static": TierPolicy("static", "public, max-age=31536000, immutable", 31_536_000.0),
    "html": TierPolicy("html", "public, max-age=10, stale-while-revalidate=30", 10.0, 30.0),
    # `private`: these answers need a bearer token, and a shared cache downstream (a real CDN,
    # a proxy) may reuse a `public` or `s-maxage` answer for a request with another token or
    # none (RFC 9111 section 3.5). Our own edge authorizes every request before it answers,
    # so it keeps caching them for 5 s under its own policy.
    "api": TierPolicy(
        "api",
        "private, max-age=0, stale-if-error=60",
        5.0,
        0.0,
        60.0,
        "Accept-Encoding",
        "HTTP_ACCEPT_ENCODING",
    ),
    "dynamic": TierPolicy("dynamic", NO_STORE, 0.0),
}
"""The policy of each tier named in `rbac.ROUTES`."""

CACHEABLE_GETS: dict[str, TierPolicy] = {
    route.template: POLICIES[route.tier]
    for route in ROUTES
    if route.method == "GET" and route.tier != "dynamic"
}
"""GET templates the edge may store, with their policy (everything else bypasses)."""


def dependency_slot(policy: TierPolicy, params: Any) -> int:
    """Which generation slot makes an entry of this tier and route params stale: -1 for none."""
    if policy.tier != "api":
        return -1
    item_id = params.get("item_id") if params else None
    if isinstance(item_id, int):
        return FIRST_ITEM_SLOT + item_id % ITEM_SLOTS
    return COLLECTION_SLOT


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match requires."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
