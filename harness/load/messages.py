"""Names of the harness's own Locust messages between master and workers (no Locust import).

- worker → master `harness_hello` (no data): sent once connected; the master answers with
  `harness_config`.
- master → worker `harness_config`: `{"tokens": {role: token}, "item_ids": [..] | null,
  "per_user_rate_per_s": float | null}`.
- master → workers `harness_pacing`: `{"per_user_rate_per_s": float | null}` at each stage.
- worker → master `harness_intervals`: `{"entries": [...], "through_t": float,
  "ledger": [...]}` every second, and once more when the worker stops (its partial second).
"""

HELLO = "harness_hello"
CONFIG = "harness_config"
PACING = "harness_pacing"
INTERVALS = "harness_intervals"
TOKEN_ENV_PREFIX = "HARNESS_TOKEN_"
ROLES = ("admin", "user", "viewer", "service")
