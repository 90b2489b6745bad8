"""The reference service's configuration: one frozen value built at the edge.

`harness serve` builds it from flags; granian's worker processes rebuild it from the
environment variables that `harness serve` sets before it spawns them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.service.storage.factory import check_database_setting

ENV_DATA_DIR = "HARNESS_DATA_DIR"
ENV_SEED_ITEMS = "HARNESS_SEED_ITEMS"
ENV_DB_PATH = "HARNESS_DB_PATH"
ENV_DATABASE = "HARNESS_DATABASE"
ENV_STATEMENT_TIMING = "HARNESS_STATEMENT_TIMING"

DEFAULT_SEED_ITEMS = 10_000
DEFAULT_THREADS = 8
MAX_SEED_ITEMS = 10_000_000


@dataclass(frozen=True)
class ServiceConfig:
    """Where the service listens, how many worker processes serve it, and where its data lives.

    `db_path` is the primary SQLite file; None means `<data_dir>/items.db`. It is a value of
    its own so that a standby or restored file can be served without moving the data dir.
    `database` is "sqlite" (the file above) or a postgresql:// URL (docs/service.md,
    Storage); it reaches worker processes in the environment, never on a command line.
    `statement_timing` times every SQL statement per route (GET /admin/statements,
    docs/profiling.md); off only to measure what the timing costs.
    `threads` is how many Python threads each worker process runs requests on: enough for
    writers to queue behind a commit and share the next one, few enough to keep GIL
    contention low (measured in docs/service.md).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path = Path("data")
    seed_items: int = DEFAULT_SEED_ITEMS
    db_path: Path | None = None
    threads: int = DEFAULT_THREADS
    database: str = "sqlite"
    statement_timing: bool = True

    def __post_init__(self) -> None:
        check_database_setting(self.database)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"expected a port in 0..65535, got {self.port}", "--port")
        if not 1 <= self.workers <= 64:
            raise ConfigError(f"expected 1..64 worker processes, got {self.workers}", "--workers")
        if not 1 <= self.threads <= 256:
            raise ConfigError(f"expected 1..256 threads, got {self.threads}", "--threads")
        if not 0 <= self.seed_items <= MAX_SEED_ITEMS:
            raise ConfigError(
                f"expected 0..{MAX_SEED_ITEMS} items, got {self.seed_items}", "--seed-items"
            )

    @property
    def items_db_path(self) -> Path:
        """The primary database file."""
        return self.db_path if self.db_path is not None else self.data_dir / "items.db"

    @property
    def cdn_dir(self) -> Path:
        """Where the edge cache keeps its cross-process counters and purge generation."""
        return self.data_dir / "cdn"

    @property
    def metrics_dir(self) -> Path:
        """Where each worker process publishes its request counters for /metrics."""
        return self.data_dir / "metrics"

    @property
    def statements_dir(self) -> Path:
        """Where each worker process publishes its statement timings."""
        return self.data_dir / "statements"

    def to_env(self) -> dict[str, str]:
        """The environment variables that carry this config to granian's workers."""
        env = {ENV_DATA_DIR: str(self.data_dir.resolve()), ENV_SEED_ITEMS: str(self.seed_items)}
        if self.db_path is not None:
            env[ENV_DB_PATH] = str(self.db_path.resolve())
        env[ENV_DATABASE] = self.database
        env[ENV_STATEMENT_TIMING] = "1" if self.statement_timing else "0"
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        """Rebuild the config in a worker process from `to_env()`'s variables."""
        env = os.environ if environ is None else environ
        seed_text = env.get(ENV_SEED_ITEMS, str(DEFAULT_SEED_ITEMS))
        try:
            seed_items = int(seed_text)
        except ValueError:
            raise ConfigError(f"expected an integer, got {seed_text!r}", ENV_SEED_ITEMS) from None
        db_text = env.get(ENV_DB_PATH)
        return cls(
            data_dir=Path(env.get(ENV_DATA_DIR, "data")),
            seed_items=seed_items,
            db_path=Path(db_text) if db_text else None,
            database=env.get(ENV_DATABASE) or "sqlite",
            statement_timing=env.get(ENV_STATEMENT_TIMING, "1") != "0",
        )
