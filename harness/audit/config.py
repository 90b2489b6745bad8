"""The typed configuration of one audit, built once from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.audit.model import Severity
from harness.errors import ConfigError

DEFAULT_MAX_EXAMPLES = 25
DEFAULT_SEED = 1
EMBEDDED_SEED_ITEMS = 300


@dataclass(frozen=True)
class AuditConfig:
    """What to audit and how (see `harness audit --help` and docs/audit.md).

    `host` None audits the embedded reference service, started for the audit.
    """

    host: str | None = None
    spec: str | None = None
    matrix: Path | None = None
    fail_on: Severity = Severity.LOW
    seed: int = DEFAULT_SEED
    max_examples: int = DEFAULT_MAX_EXAMPLES
    request_timeout_s: float = 10.0
    max_requests: int = 20_000
    deadline_s: float = 900.0

    def __post_init__(self) -> None:
        if self.max_examples < 1:
            raise ConfigError(f"expected at least 1, got {self.max_examples}", "--max-examples")
        if self.seed < 0:
            raise ConfigError(f"expected 0 or more, got {self.seed}", "--seed")


def parse_severity(text: str, where: str = "--fail-on") -> Severity:
    """The Severity named `text` (low, medium, high); ConfigError otherwise."""
    try:
        return Severity[text.strip().upper()]
    except KeyError:
        raise ConfigError(f"expected low, medium or high, got {text!r}", where) from None
