"""`harness audit`: an OWASP API Security Top 10 (2023) audit of any HTTP API.

`run_audit(config, run_dir, run_id)` audits the target and returns an `AuditRun`;
`write_audit(run, run_dir, secrets)` writes audit.json, junit.xml and report.html.
The checks live in `harness.audit.checks`, one module per family; docs/audit.md lists
every check and its category.
"""

from harness.audit.config import AuditConfig, parse_severity
from harness.audit.model import Category, CheckResult, Exchange, Finding, Severity, Status

__all__ = [
    "AuditConfig",
    "Category",
    "CheckResult",
    "Exchange",
    "Finding",
    "Severity",
    "Status",
    "parse_severity",
]
