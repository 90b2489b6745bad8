"""The harness's Locust users: a realistic mix per role against the reference service.

- viewers (weight 6) browse the home page, HTML pages and static files (CDN hits) and read
  single items;
- users (weight 3) filter, read and write items; every write carries a fresh
  `Idempotency-Key`, and each acknowledged (2xx) write goes to the ledger;
- services (weight 1) bulk-read items;
- one admin watches the edge cache and metrics and purges the cache now and then.

Users are paced with Locust's `constant_throughput` semantics at the per-user rate the master
sends for the current stage (none: no wait), and tell the recorder their pacing through
`context()`, so it can correct for coordinated omission. Each task makes one request.
Importing this module imports Locust: load processes only.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from locust import FastHttpUser, task

from harness import ledger
from harness.load.discovery import DISCOVERY_PARAMS, LOAD_ITEM_PREFIX
from harness.load.recorder import PACING_KEY

PAGE_SLUGS = ("about", "catalog", "pricing", "status")
STATIC_PATHS = ("app.css", "app.js", "logo.svg")
CATEGORIES = ("tools", "garden", "kitchen", "toys", "books", "electronics", "sports", "office")
FILTERS = (
    "category = {category}",
    "price < {price}; status = active",
    "category in ({category}, {category2}); quantity >= {quantity}",
    "name starts Blue",
    "name like %Lamp%",
    "status != archived; price >= {price}",
)
SORTS = ("", "-price", "name", "-created_at", "quantity")


@dataclass
class UserSettings:
    """What the master tells this load process: tokens, pacing, readable items."""

    tokens: dict[str, str] = field(default_factory=dict)
    per_user_rate_per_s: float | None = None
    item_ids: list[int] = field(default_factory=list)
    discovering: bool = False


SETTINGS = UserSettings()
"""The one settings object of this process (one Locust environment per process)."""


class HarnessUser(FastHttpUser):
    """Base of the role users: token, pacing and a shared pool of readable item ids."""

    abstract = True
    role: ClassVar[str] = "viewer"
    network_timeout = 30.0
    connection_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._due: float | None = None

    def wait_time(self) -> float:
        """Constant throughput: start tasks every 1/rate s, at once when behind (no catch-up)."""
        rate = SETTINGS.per_user_rate_per_s
        if not rate:
            self._due = None
            return 0.0
        interval_s = 1.0 / rate
        now = time.monotonic()
        if self._due is None:  # a random phase, so users spawned together do not send together
            wait_s = random.uniform(0.0, interval_s)
        else:
            wait_s = max(0.0, self._due + interval_s - now)
        self._due = now + wait_s
        return wait_s

    def context(self) -> dict[str, Any]:
        """Per-request context for the recorder: the intended interval between sends."""
        rate = SETTINGS.per_user_rate_per_s
        return {PACING_KEY: round(1_000_000 / rate) if rate else 0}

    def auth(self) -> dict[str, str]:
        """Headers for an API call as this user's role."""
        token = SETTINGS.tokens.get(self.role)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def item_id(self) -> int:
        """A readable item id (the seeded ones, or discovered from the first list call)."""
        if not SETTINGS.item_ids and not SETTINGS.discovering:
            self._discover_items()
        return random.choice(SETTINGS.item_ids) if SETTINGS.item_ids else 1

    def _discover_items(self) -> None:
        SETTINGS.discovering = True
        try:
            with self.client.get(
                "/api/items",
                params=DISCOVERY_PARAMS,
                headers=self.auth(),
                name="/api/items",
                catch_response=True,
            ) as resp:
                if resp.status_code == 200 and resp.text:
                    ids = [int(item["id"]) for item in json.loads(resp.text).get("items", [])]
                    SETTINGS.item_ids.extend(ids)
        finally:
            SETTINGS.discovering = False


class ViewerUser(HarnessUser):
    """Browses cached pages and static files, and reads single items."""

    role = "viewer"
    weight = 6

    @task(2)
    def home(self) -> None:
        self.client.get("/", name="/")

    @task(3)
    def page(self) -> None:
        self.client.get(f"/pages/{random.choice(PAGE_SLUGS)}", name="/pages/{slug}")

    @task(3)
    def static(self) -> None:
        self.client.get(f"/static/{random.choice(STATIC_PATHS)}", name="/static/{path}")

    @task(4)
    def read_item(self) -> None:
        item_id = self.item_id()
        self.client.get(f"/api/items/{item_id}", headers=self.auth(), name="/api/items/{id}")


class ApiUser(HarnessUser):
    """Filters, reads and writes items; records every acknowledged write in the ledger."""

    role = "user"
    weight = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.own_ids: list[int] = []
        self.last_status = 0

    @task(4)
    def filter_items(self) -> None:
        text = random.choice(FILTERS).format(
            category=random.choice(CATEGORIES),
            category2=random.choice(CATEGORIES),
            price=random.randint(5, 400),
            quantity=random.randint(0, 900),
        )
        params: dict[str, Any] = {"filter": text, "limit": 20}
        if sort := random.choice(SORTS):
            params["sort"] = sort
        self.client.get("/api/items", params=params, headers=self.auth(), name="/api/items")

    @task(3)
    def read_item(self) -> None:
        item_id = self.item_id()
        self.client.get(f"/api/items/{item_id}", headers=self.auth(), name="/api/items/{id}")

    @task(2)
    def create_item(self) -> None:
        body = {
            "name": f"{LOAD_ITEM_PREFIX} item {uuid.uuid4().hex[:8]}",
            "category": random.choice(CATEGORIES),
            "price": round(random.uniform(1, 300), 2),
            "quantity": random.randint(0, 500),
        }
        answer = self._write("POST", "/api/items", "/api/items", "create", body)
        if answer is not None:
            self.own_ids.append(int(answer["item"]["id"]))

    @task(1)
    def update_item(self) -> None:
        own = bool(self.own_ids)
        item_id = random.choice(self.own_ids) if own else self.item_id()
        body = {"price": round(random.uniform(1, 300), 2), "quantity": random.randint(0, 500)}
        self._write("PATCH", f"/api/items/{item_id}", "/api/items/{id}", "update", body)
        if own and self.last_status == 404 and item_id in self.own_ids:
            self.own_ids.remove(item_id)  # gone (e.g. lost in a restore): a client stops asking

    @task(1)
    def delete_item(self) -> None:
        if not self.own_ids:  # only delete what this user created: readers never miss items
            self.create_item()
            return
        item_id = self.own_ids.pop(random.randrange(len(self.own_ids)))
        self._write("DELETE", f"/api/items/{item_id}", "/api/items/{id}", "delete", None)

    def _write(
        self, method: str, url: str, name: str, op: str, body: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        key = uuid.uuid4().hex
        headers = {**self.auth(), "Idempotency-Key": key}
        resp = self.client.request(method, url, json=body, headers=headers, name=name)
        self.last_status = resp.status_code
        if not 200 <= resp.status_code < 300 or not resp.text:
            return None
        answer: dict[str, Any] = json.loads(resp.text)
        item_id = answer.get("item", {}).get("id", answer.get("deleted"))
        seq = int(answer.get("seq", 0))  # the body carries it; so does X-Write-Seq
        ledger.record(key, seq=seq, op=op, item_id=item_id)  # the call users' locustfiles make
        return answer


class ServiceUser(HarnessUser):
    """A back-end service: bulk reads."""

    role = "service"
    weight = 1

    @task(5)
    def bulk_read(self) -> None:
        ids = ",".join(str(self.item_id()) for _ in range(random.randint(10, 50)))
        self.client.get(
            "/api/items/bulk", params={"ids": ids}, headers=self.auth(), name="/api/items/bulk"
        )

    @task(1)
    def metrics(self) -> None:
        self.client.get("/metrics", headers=self.auth(), name="/metrics")


class AdminUser(HarnessUser):
    """One operator: watches the edge cache and metrics, purges the cache now and then."""

    role = "admin"
    fixed_count = 1

    @task(40)
    def cdn_stats(self) -> None:
        self.client.get("/admin/cdn/stats", headers=self.auth(), name="/admin/cdn/stats")

    @task(19)
    def metrics(self) -> None:
        self.client.get("/metrics", headers=self.auth(), name="/metrics")

    @task(1)
    def purge(self) -> None:
        self.client.post("/admin/cdn/purge", headers=self.auth(), name="/admin/cdn/purge")


USER_CLASSES: tuple[type[HarnessUser], ...] = (ViewerUser, ApiUser, ServiceUser, AdminUser)
