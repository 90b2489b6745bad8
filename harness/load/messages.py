"""Names of the harness's own Locust messages between master and workers (no Locust import).

Each travels sealed in a `harness.load.cluster` envelope; below are the bodies.

- worker → master `harness_hello`: `{"nonce", "t", "pid"}`, sent before Locust's own
  `client_ready`; the master answers with `harness_config`.
- master → worker `harness_config`: `{"tokens": {role: token}, "item_ids": [..] | null,
  "per_user_rate_per_s": float | null, "host": url, "nonce": the hello's}`.
- master → each worker `harness_pacing`: `{"per_user_rate_per_s": float | null, "arrival":
  {"from_rate_per_s", "rate_per_s", "ramp_s", "arrivals", "max_users": int | null} | null}`
  per stage: an arrival-rate stage's schedule, this worker's share of the rate and of
  `max_in_flight` (`max_users`: its pool grows up to it and sheds down to it), dealt out
  as Locust deals out users.
- worker → master `harness_intervals`: `{"entries": [...], "through_t": float,
  "ledger": [...], "memory": {"pid", "rss_bytes"}}` every second, and once more when the
  worker stops (its partial second). `memory` is the worker's own RSS (memory.jsonl);
  `cache` and `cache_dropped`, present when there are some, its answers' `X-Cache`
  records (cache.jsonl).
"""

HELLO = "harness_hello"
CONFIG = "harness_config"
PACING = "harness_pacing"
INTERVALS = "harness_intervals"
TOKEN_ENV_PREFIX = "HARNESS_TOKEN_"
ROLES = ("admin", "user", "viewer", "service")
