"""How the load tells the items it may read from the ones it creates (no Locust import: the
tests and the service side use it too)."""

from __future__ import annotations

ITEM_DISCOVERY_LIMIT = 500
LOAD_ITEM_PREFIX = "Load"
"""Names of items the load creates start with it (seeded names never do)."""
DISCOVERY_PARAMS = {
    "limit": ITEM_DISCOVERY_LIMIT,
    "sort": "id",
    "filter": f"name !like {LOAD_ITEM_PREFIX}%",
}
"""How a reader finds readable ids on a service it was not told about: only items the load did
not create, since an ApiUser deletes its own and a read of one would count an undeserved 404."""
