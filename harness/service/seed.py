"""A deterministic data set: the same N items, byte for byte, on every machine and run."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

SEED = 20240101
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)

ADJECTIVES = (
    "Blue", "Red", "Green", "Silver", "Golden", "Compact", "Heavy", "Light", "Smart",
    "Classic", "Rustic", "Modern", "Tiny", "Grand", "Quiet", "Rapid",
)  # fmt: skip
NOUNS = (
    "Widget", "Gadget", "Lamp", "Chair", "Kettle", "Drill", "Backpack", "Notebook",
    "Speaker", "Planter", "Blender", "Helmet", "Puzzle", "Router", "Wrench", "Mug",
)  # fmt: skip
CATEGORIES = ("tools", "garden", "kitchen", "toys", "books", "electronics", "sports", "office")
STATUS_WEIGHTS = (("active", 60), ("pending", 25), ("archived", 15))

ItemRow = tuple[int, str, str, float, int, str, str]


def format_time(moment: datetime) -> str:
    """The one stored form of created_at: ISO 8601, UTC, whole seconds (sorts as text)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def format_time_now() -> str:
    """created_at for an item created now."""
    return format_time(datetime.now(UTC))


def generate_items(count: int, seed: int = SEED) -> Iterator[ItemRow]:
    """Yield `count` rows (id, name, category, price, quantity, status, created_at), ids 1..N."""
    rng = random.Random(seed)
    statuses = [status for status, _ in STATUS_WEIGHTS]
    weights = [weight for _, weight in STATUS_WEIGHTS]
    moment = BASE_TIME
    for item_id in range(1, count + 1):
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.randint(1, 999)}"
        price = round(rng.uniform(0.5, 500.0), 2)
        quantity = rng.randint(0, 1000)
        status = rng.choices(statuses, weights)[0]
        moment += timedelta(seconds=rng.randint(1, 3600))
        yield (item_id, name, rng.choice(CATEGORIES), price, quantity, status, format_time(moment))
