"""The spec index (templates, schemas, undeclared members) and the audit's files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import xml.etree.ElementTree as ET

import pytest

from harness.audit.config import AuditConfig
from harness.audit.forge import Forger
from harness.audit.model import (
    Category,
    CheckResult,
    CheckSpec,
    Exchange,
    Finding,
    Severity,
    Status,
)
from harness.audit.output import junit_xml, report_html, write_audit
from harness.audit.runner import AuditRun
from harness.audit.spec import SpecIndex, ensure_openapi3, load_spec
from harness.errors import ConfigError, RunFailed


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


TAGS = {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}}
ITEM = {"type": "object", "properties": {"id": {"type": "integer"}, "tags": TAGS}}
TAG = {"type": "object", "properties": {"name": {}}}
OPEN = {"type": "object", "additionalProperties": True, "properties": {}}
SPEC = {
    "openapi": "3.1.0",
    "components": {"schemas": {"Item": ITEM, "Tag": TAG}},
    "paths": {
        "/items/{id}": {
            "get": {"responses": {"200": _json({"$ref": "#/components/schemas/Item"})}}
        },
        "/items/bulk": {"get": {"responses": {"2XX": _json(OPEN)}}},
    },
}


def test_a_literal_path_wins_over_a_template():
    index = SpecIndex(SPEC)
    assert index.template_of("/items/bulk?x=1") == "/items/bulk"
    assert index.template_of("/items/7") == "/items/{id}"
    assert index.template_of("/other") is None


def test_undeclared_members_are_found_through_refs_and_arrays():
    index = SpecIndex(SPEC)
    operation = index.operation("GET", "/items/7")
    assert operation is not None
    schema = index.response_schema(operation, 200)
    assert schema is not None
    body = {"id": 1, "secret": "x", "tags": [{"name": "a", "owner": "b"}]}
    assert index.undeclared_fields(schema, body) == ["$.secret", "$.tags[0].owner"]
    bulk = index.response_schema(index.operation("GET", "/items/bulk") or {}, 204)
    assert bulk is not None and index.undeclared_fields(bulk, {"anything": 1}) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"swagger": "2.0"}, "swagger: '2.0'"),
        ({"openapi": "2.5", "paths": {}}, "openapi: '2.5'"),
        ([1, 2], "not a JSON/YAML object"),
        ({"openapi": "3.0.0"}, "no 'paths'"),
    ],
)
def test_only_openapi_3_is_accepted(document, message):
    with pytest.raises(ConfigError, match=message):
        ensure_openapi3(document, "spec.json")


def test_a_yaml_spec_file_loads(tmp_path):
    path = tmp_path / "api.yaml"
    path.write_text("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n")
    document, where = load_spec(str(path), "http://127.0.0.1:1")
    assert document["openapi"] == "3.0.3" and where == str(path)


def test_key_confusion_signs_hs256_with_the_public_key():
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b'{"sub":"u","role":"user"}').rstrip(b"=").decode()
    public = b"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"
    forger = Forger(f"{header}.{payload}.c2ln", None, public_key=public)
    token = forger.key_confusion()
    assert forger.asymmetric and token is not None
    signing_input, signature = token.rsplit(".", 1)
    expected = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "==") == expected
    header_json = base64.urlsafe_b64decode(signing_input.split(".")[0] + "==")
    assert json.loads(header_json)["alg"] == "HS256"


def _run(findings: list[Finding], fail_on: Severity = Severity.MEDIUM) -> AuditRun:
    spec_a = CheckSpec("api2.alg_none", Category.API2, "alg none refused")
    spec_b = CheckSpec("api8.nosniff", Category.API8, "nosniff")
    spec_c = CheckSpec("api8.cookies", Category.API8, "cookies")
    run = AuditRun("audit-x", "http://127.0.0.1:1", "url", "m.toml", "spec.json",
                   AuditConfig(fail_on=fail_on), ("admin",), time.time())  # fmt: skip
    run.results = [
        CheckResult(spec_a, Status.FAIL, [f for f in findings if f.check == spec_a.id]),
        CheckResult(spec_b, Status.FAIL, [f for f in findings if f.check == spec_b.id]),
        CheckResult(spec_c, Status.SKIPPED, note="no response set a cookie"),
    ]
    run.ended_at = run.started_at + 1
    return run


def _finding(check: str, severity: Severity, token: str = "<token:admin>") -> Finding:
    exchange = Exchange("GET", "http://127.0.0.1:1/x", (("Authorization", f"Bearer {token}"),),
                        None, 200, (), "{}", 1.0)  # fmt: skip
    return Finding(check, Category.API2, severity, "a title", "a detail", exchange)


def test_junit_has_one_case_per_check_and_fails_only_at_or_above_fail_on():
    run = _run([_finding("api2.alg_none", Severity.HIGH), _finding("api8.nosniff", Severity.LOW)])
    suite = ET.fromstring(junit_xml(run).split("\n", 1)[1])
    cases = {c.get("name", "").split(":")[0]: c for c in suite.findall("testcase")}
    assert list(cases) == ["api2.alg_none", "api8.nosniff", "api8.cookies"]
    assert cases["api2.alg_none"].find("failure") is not None
    assert cases["api8.nosniff"].find("failure") is None  # low, below --fail-on medium
    assert "a title" in (cases["api8.nosniff"].findtext("system-out") or "")
    assert cases["api8.cookies"].find("skipped") is not None
    assert suite.get("failures") == "1" and run.verdict == "fail"


def test_the_report_leads_with_the_verdict_and_escapes(tmp_path):
    run = _run([_finding("api2.alg_none", Severity.HIGH, token="<script>alert(1)</script>")])
    html = report_html(run)
    assert '<div class="headline">FAIL</div>' in html
    assert html.index('id="verdict"') < html.index('id="categories"') < html.index('id="findings"')
    assert "<script>alert(1)" not in html and "curl -i -X GET" in html


def test_no_file_is_written_that_would_hold_a_secret(tmp_path):
    secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    run = _run([_finding("api2.alg_none", Severity.HIGH, token=secret)])
    with pytest.raises(RunFailed, match="would contain a secret"):
        write_audit(run, tmp_path / "out", [secret])
    assert not (tmp_path / "out").exists()
    written = write_audit(_run([]), tmp_path / "ok", [secret])
    assert json.loads(written["audit.json"].read_text())["verdict"] == "pass"
