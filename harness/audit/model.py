"""What an audit finds: OWASP categories, severities, recorded exchanges, findings, results.

A check (one test case in junit.xml) sends requests, each kept as an `Exchange` with its
secrets already redacted, and reports `Finding`s: one per flaw, each with the exchange
that shows it. A check that could not run (no signing key, nothing declared to test) is
`skipped` with the reason; one whose own control request failed is `error`.
"""

from __future__ import annotations

import enum
import shlex
from dataclasses import dataclass, field
from typing import Any


class Category(enum.StrEnum):
    """OWASP API Security Top 10 (2023) categories the audit covers, plus its own two."""

    API1 = "API1"
    API2 = "API2"
    API3 = "API3"
    API4 = "API4"
    API5 = "API5"
    API8 = "API8"
    INJECTION = "INJ"
    DATA = "DATA"

    @property
    def full_name(self) -> str:
        """The category's full name."""
        return CATEGORY_TITLES[self]


CATEGORY_TITLES: dict[Category, str] = {
    Category.API1: "API1:2023 Broken Object Level Authorization",
    Category.API2: "API2:2023 Broken Authentication",
    Category.API3: "API3:2023 Broken Object Property Level Authorization",
    Category.API4: "API4:2023 Unrestricted Resource Consumption",
    Category.API5: "API5:2023 Broken Function Level Authorization",
    Category.API8: "API8:2023 Security Misconfiguration",
    Category.INJECTION: "Injection and robustness (API8:2023, API10:2023)",
    Category.DATA: "Data protection (API3:2023, API8:2023)",
}


class Severity(enum.IntEnum):
    """How bad a finding is; `--fail-on` fails the audit at or above one of these."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        """Lower-case name, as on the command line."""
        return self.name.lower()


@dataclass(frozen=True)
class Exchange:
    """One request and its response, secrets already replaced by placeholders."""

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: str | None
    status: int | None
    response_headers: tuple[tuple[str, str], ...] = ()
    response_body: str = ""
    latency_ms: float = 0.0
    error: str | None = None
    curl_override: str | None = None

    def curl(self) -> str:
        """A curl command reproducing the request (tokens stay as placeholders)."""
        if self.curl_override is not None:
            return self.curl_override
        parts = ["curl", "-i", "-X", self.method]
        for name, value in self.request_headers:
            parts += ["-H", f"{name}: {value}"]
        if self.request_body is not None:
            parts += ["--data-binary", self.request_body]
        parts.append(self.url)
        return " ".join(shlex.quote(p) for p in parts)

    def response_header(self, name: str) -> str | None:
        """The first response header called `name` (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for k, v in self.response_headers if k.lower() == lowered), None)

    def to_json(self) -> dict[str, Any]:
        """The exchange as audit.json stores it."""
        return {
            "method": self.method,
            "url": self.url,
            "request_headers": dict(self.request_headers),
            "request_body": self.request_body,
            "status": self.status,
            "response_headers": dict(self.response_headers),
            "response_body": self.response_body,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
            "curl": self.curl(),
        }


@dataclass(frozen=True)
class Finding:
    """One flaw: what is wrong, how bad, and the exchange that shows it."""

    check: str
    category: Category
    severity: Severity
    title: str
    detail: str
    exchange: Exchange | None = None

    def to_json(self) -> dict[str, Any]:
        """The finding as audit.json stores it."""
        return {
            "check": self.check,
            "category": self.category.value,
            "category_title": self.category.full_name,
            "severity": self.severity.label,
            "title": self.title,
            "detail": self.detail,
            "exchange": self.exchange.to_json() if self.exchange else None,
        }


class Status(enum.StrEnum):
    """The outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True)
class CheckSpec:
    """A check's identity: a stable id (`api2.alg_none`), category and one-line purpose."""

    id: str
    category: Category
    title: str


@dataclass
class CheckResult:
    """What one check did: its findings, how many requests, and a note for the reader."""

    spec: CheckSpec
    status: Status = Status.PASS
    findings: list[Finding] = field(default_factory=list)
    note: str = ""
    requests: int = 0
    duration_s: float = 0.0
    measurements: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The result as audit.json stores it."""
        return {
            "id": self.spec.id,
            "category": self.spec.category.value,
            "title": self.spec.title,
            "status": self.status.value,
            "note": self.note,
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "measurements": {k: round(v, 3) for k, v in self.measurements.items()},
            "findings": [f.to_json() for f in self.findings],
        }
