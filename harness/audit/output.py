"""The audit's run directory: audit.json, junit.xml (one test case per check), report.html.

Everything is rendered in memory first and searched for every secret the audit held; a
file that would contain one is never written (RunFailed instead), so the run directory
can be attached to a CI job or a ticket as it is.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from harness.audit.model import Category, CheckResult, CheckSpec, Finding, Severity, Status
from harness.audit.runner import AuditRun, severity_counts
from harness.errors import RunFailed

AUDIT_JSON = "audit.json"
REPORT_HTML = "report.html"
JUNIT_XML = "junit.xml"
SCHEMA_VERSION = 1
TEMPLATES = Path(__file__).with_name("templates")
REPORT_TEMPLATES = Path(__file__).parent.parent / "report" / "templates"


def audit_json(run: AuditRun) -> dict[str, Any]:
    """The document written to audit.json."""
    config = run.config
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "audit",
        "run_id": run.run_id,
        "verdict": run.verdict,
        "target": {"url": run.target_url, "kind": run.target_kind},
        "spec": run.spec_source,
        "matrix": run.matrix_source,
        "roles_with_tokens": list(run.roles_with_tokens),
        "settings": {
            "fail_on": config.fail_on.label,
            "seed": config.seed,
            "max_examples": config.max_examples,
        },
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_s": round(run.ended_at - run.started_at, 3),
        "requests": run.requests,
        "counts": {
            "findings": severity_counts(run.findings),
            "failing": len(run.failing),
            "checks": {s.value: sum(1 for r in run.results if r.status is s) for s in Status},
        },
        "checks": [r.to_json() for r in run.results],
        "findings": [f.to_json() for f in run.findings],
    }


def junit_xml(run: AuditRun) -> str:
    """One testsuite, one testcase per check: findings at/above --fail-on are failures."""
    fail_on = run.config.fail_on
    failed = [r for r in run.results if any(f.severity >= fail_on for f in r.findings)]
    suite = ET.Element(
        "testsuite",
        {
            "name": f"audit {run.run_id}",
            "tests": str(len(run.results)),
            "failures": str(len(failed)),
            "errors": str(len(run.errors)),
            "skipped": str(sum(1 for r in run.results if r.status is Status.SKIPPED)),
            "time": f"{run.ended_at - run.started_at:.3f}",
            "timestamp": dt.datetime.fromtimestamp(run.started_at, dt.UTC)
            .replace(tzinfo=None)
            .isoformat(timespec="seconds"),
        },
    )
    for result in run.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"audit.{result.spec.category.value}",
                "name": f"{result.spec.id}: {result.spec.title}",
                "time": f"{result.duration_s:.3f}",
            },
        )
        blocking = [f for f in result.findings if f.severity >= fail_on]
        if blocking:
            failure = ET.SubElement(
                case,
                "failure",
                {"message": f"{len(blocking)} finding(s): {blocking[0].title}", "type": "Finding"},
            )
            failure.text = "\n\n".join(_finding_text(f) for f in blocking)
        elif result.status is Status.ERROR:
            ET.SubElement(case, "error", {"message": result.note, "type": "CheckError"})
        elif result.status is Status.SKIPPED:
            ET.SubElement(case, "skipped", {"message": result.note})
        below = [f for f in result.findings if f.severity < fail_on]
        if below or result.note:
            out = ET.SubElement(case, "system-out")
            out.text = "\n\n".join([result.note, *(_finding_text(f) for f in below)]).strip()
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _finding_text(finding: Finding) -> str:
    lines = [f"[{finding.severity.label}] {finding.category.value} {finding.title}", finding.detail]
    if finding.exchange is not None:
        lines.append(f"reproduce: {finding.exchange.curl()}")
    return "\n".join(lines)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(str(TEMPLATES)),
                jinja2.FileSystemLoader(str(REPORT_TEMPLATES)),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def report_html(run: AuditRun) -> str:
    """The audit report page (self-contained, the load report's stylesheet)."""
    return _environment().get_template("audit.html.j2").render(**report_context(run))


_VERDICTS = {
    "pass": ("PASS", "No finding at or above {fail_on}."),
    "fail": ("FAIL", "{n} finding(s) at or above {fail_on}."),
    "error": ("ERROR", "No finding at or above {fail_on}, but {e} check(s) could not run."),
}


def report_context(run: AuditRun) -> dict[str, Any]:
    """Everything the template shows, preformatted."""
    fail_on = run.config.fail_on
    headline, subtitle = _VERDICTS[run.verdict]
    counts = severity_counts(run.findings)
    by_status = {s: sum(1 for r in run.results if r.status is s) for s in Status}
    kpis = _kpis(run, counts, by_status)
    return {
        "title": run.target_url,
        "run_id": run.run_id,
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "verdict": {
            "state": run.verdict,
            "headline": headline,
            "subtitle": subtitle.format(
                fail_on=fail_on.label, n=len(run.failing), e=len(run.errors)
            ),
            "failed": [
                f"[{f.severity.label}] {f.category.value} · {f.title}" for f in run.failing[:8]
            ]
            + ([f"… and {len(run.failing) - 8} more"] if len(run.failing) > 8 else []),
        },
        "kpis": kpis,
        "categories": _categories(run.results),
        "findings": _findings(run.findings, fail_on),
        "checks": [_check_row(r) for r in run.results],
        "facts": _facts(run),
    }


def _kpis(
    run: AuditRun, counts: dict[str, int], by_status: dict[Status, int]
) -> list[dict[str, Any]]:
    fail_on = run.config.fail_on
    severities = [
        {
            "label": s.label.capitalize(),
            "value": counts[s.label],
            "ok": not counts[s.label] if s >= fail_on else None,
        }
        for s in sorted(Severity, reverse=True)
    ]
    return [
        *severities,
        {
            "label": "Checks passed",
            "value": f"{by_status[Status.PASS]} / {len(run.results)}",
            "ok": None,
        },
        {"label": "Skipped", "value": by_status[Status.SKIPPED], "ok": None},
        {"label": "Requests", "value": f"{run.requests:,}", "ok": None},
        {"label": "Duration", "value": f"{run.ended_at - run.started_at:.1f} s", "ok": None},
    ]


def _categories(results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    rows = []
    for category in Category:
        mine = [r for r in results if r.spec.category is category]
        if not mine:
            continue
        findings = sum(len(r.findings) for r in mine)
        rows.append(
            {
                "code": category.value,
                "title": category.full_name,
                "checks": len(mine),
                "passed": sum(1 for r in mine if r.status is Status.PASS),
                "failed": sum(1 for r in mine if r.status is Status.FAIL),
                "skipped": sum(1 for r in mine if r.status is Status.SKIPPED),
                "errors": sum(1 for r in mine if r.status is Status.ERROR),
                "findings": findings,
            }
        )
    return rows


def _findings(findings: Sequence[Finding], fail_on: Severity) -> list[dict[str, Any]]:
    rows = []
    for finding in findings:
        exchange = finding.exchange
        rows.append(
            {
                "severity": finding.severity.label,
                "blocking": finding.severity >= fail_on,
                "category": finding.category.value,
                "category_title": finding.category.full_name,
                "check": finding.check,
                "title": finding.title,
                "detail": finding.detail,
                "request": f"{exchange.method} {exchange.url}" if exchange else None,
                "status": (exchange.status if exchange.status is not None else exchange.error)
                if exchange
                else None,
                "latency": f"{exchange.latency_ms:,.1f} ms" if exchange else None,
                "response": exchange.response_body[:800] if exchange else None,
                "curl": exchange.curl() if exchange else None,
            }
        )
    return rows


def _check_row(result: CheckResult) -> dict[str, Any]:
    measured = ", ".join(_measurement(k, v) for k, v in result.measurements.items())
    return {
        "id": result.spec.id,
        "category": result.spec.category.value,
        "title": result.spec.title,
        "status": result.status.value,
        "findings": len(result.findings),
        "requests": result.requests,
        "time": f"{result.duration_s:.2f} s",
        "note": " · ".join(p for p in (result.note, measured) if p),
    }


def _measurement(name: str, value: float) -> str:
    """`refusal_ms` 9.64 → "refusal 9.6 ms"; `calls` 100 → "calls 100"."""
    if name.endswith("_ms"):
        return f"{name[:-3].replace('_', ' ')} {value:,.1f} ms"
    return f"{name.replace('_', ' ')} {value:,.0f}"


def _facts(run: AuditRun) -> list[dict[str, Any]]:
    config = run.config
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.started_at))
    return [
        {
            "label": "Target",
            "value": run.target_url,
            "detail": "embedded reference service" if run.target_kind == "embedded" else "--host",
            "ok": None,
        },
        {"label": "Spec", "value": run.spec_source, "detail": "", "ok": None},
        {"label": "Matrix", "value": run.matrix_source, "detail": "", "ok": None},
        {
            "label": "Roles with tokens",
            "value": ", ".join(run.roles_with_tokens) or "none",
            "detail": "tokens are redacted everywhere",
            "ok": None,
        },
        {
            "label": "Fail on",
            "value": config.fail_on.label,
            "detail": "findings at or above fail the audit",
            "ok": None,
        },
        {
            "label": "Generation",
            "value": f"seed {config.seed}",
            "detail": f"up to {config.max_examples} examples per operation",
            "ok": None,
        },
        {
            "label": "Started",
            "value": started,
            "detail": f"{run.ended_at - run.started_at:.1f} s, {run.requests:,} requests",
            "ok": None,
        },
    ]


OWN_FILES = CheckSpec(
    "data.audit_files", Category.DATA, "The audit's own files hold no token or key"
)


def write_audit(run: AuditRun, run_dir: Path, secrets: Sequence[str]) -> dict[str, Path]:
    """Write the three files atomically, after checking none holds a secret.

    The files list this search as the check `data.audit_files`: it passed, or they would
    not exist (RunFailed names the file instead).
    """
    import json

    searched = [s for s in secrets if len(s) >= 8]
    if not any(r.spec == OWN_FILES for r in run.results):
        note = f"{', '.join((AUDIT_JSON, JUNIT_XML, REPORT_HTML))} searched for "
        run.results.append(
            CheckResult(OWN_FILES, Status.PASS, note=f"{note}{len(searched)} secrets")
        )
    files = {
        AUDIT_JSON: json.dumps(audit_json(run), indent=2) + "\n",
        JUNIT_XML: junit_xml(run),
        REPORT_HTML: report_html(run),
    }
    for name, text in files.items():
        if any(secret in text for secret in searched):
            raise RunFailed(f"refusing to write {name}: it would contain a secret")
    run_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in files.items():
        path = run_dir / name
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written[name] = path
    return written
