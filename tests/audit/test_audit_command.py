"""`harness audit` end to end: every planted flaw found by category, the reference
service clean, bad input refused in one line, and no token in the audit's own files."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.audit.checks import CHECKS
from harness.cli import main
from tests.audit import vulnerable

HERE = Path(__file__).parent
MATRIX = HERE / "vulnerable-matrix.toml"


@pytest.fixture(scope="module")
def notes_url() -> Iterator[str]:
    server, url = vulnerable.serve()
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def notes_tokens(monkeypatch) -> dict[str, str]:
    tokens = {role: vulnerable.token(role) for role in vulnerable.ROLES}
    for role, token in tokens.items():
        monkeypatch.setenv(f"HARNESS_TOKEN_{role.upper()}", token)
    monkeypatch.setenv("HARNESS_AUDIT_SIGNING_KEY", vulnerable.SECRET)
    return tokens


@pytest.mark.e2e
def test_every_planted_flaw_is_found_by_category(notes_url, notes_tokens, tmp_path, capsys):
    out = tmp_path / "audit"
    code = main(
        ["audit", "--host", notes_url, "--matrix", str(MATRIX), "--out", str(out),
         "--max-examples", "5", "--seed", "3"]
    )  # fmt: skip
    assert code == 1
    audit = json.loads((out / "audit.json").read_text())
    failed = {c["id"]: c for c in audit["checks"] if c["status"] == "fail"}
    planted = {
        "api2.alg_none": "API2",
        "api5.matrix": "API5",
        "api1.ownership": "API1",
        "api3.server_fields": "API3",
        "api3.undeclared_fields": "API3",
        "api4.page_size": "API4",
        "api4.body_size": "API4",
        "api8.cache_control": "API8",
        "api8.error_details": "API8",
        "api8.cors": "API8",
        "api8.methods": "API8",
        "api8.cookies": "API8",
        "inj.metacharacters": "INJ",
        "inj.schemathesis": "INJ",
        "data.secrets_echoed": "DATA",
    }
    for check, category in planted.items():
        assert check in failed, f"{check} found nothing"
        assert {f["category"] for f in failed[check]["findings"]} == {category}
    # what the service does right is not reported
    for check in ("api2.no_token", "api2.tampered", "api2.expired", "api2.wrong_audience",
                  "api2.not_yet_valid", "api2.wrong_issuer"):  # fmt: skip
        assert audit["checks"][[c["id"] for c in audit["checks"]].index(check)]["status"] == "pass"
    viewer_delete = [f for f in failed["api5.matrix"]["findings"] if "viewer" in f["title"]]
    assert viewer_delete and viewer_delete[0]["exchange"]["method"] == "DELETE"
    assert "<token:viewer>" in viewer_delete[0]["exchange"]["curl"]
    # one test case per check, failures where the findings are
    suite = ET.parse(out / "junit.xml").getroot()
    cases = suite.findall("testcase")
    assert len(cases) == len(CHECKS) + 1 == len(audit["checks"])  # + data.audit_files
    assert audit["checks"][-1]["id"] == "data.audit_files"
    assert int(suite.get("failures") or 0) == len(failed)
    # the audit's own files never hold a token (the service echoed one: it was redacted)
    for name in ("audit.json", "junit.xml", "report.html"):
        text = (out / name).read_text()
        for token in [*notes_tokens.values(), vulnerable.SECRET]:
            assert token not in text, name
    html = (out / "report.html").read_text()
    assert "FAIL" in html and "API1:2023 Broken Object Level Authorization" in html
    assert "curl -i -X DELETE" in html
    assert "audit FAIL" in capsys.readouterr().out


@pytest.mark.e2e
def test_fail_on_high_ignores_lower_findings(notes_url, notes_tokens, tmp_path):
    out = tmp_path / "audit"
    code = main(["audit", "--host", notes_url, "--matrix", str(MATRIX), "--out", str(out),
                 "--max-examples", "1", "--fail-on", "high"])  # fmt: skip
    audit = json.loads((out / "audit.json").read_text())
    assert code == 1 and audit["counts"]["failing"] == audit["counts"]["findings"]["high"]


@pytest.mark.e2e
def test_the_reference_service_passes_the_audit(tmp_path, capsys):
    out = tmp_path / "audit"
    code = main(["audit", "--out", str(out), "--max-examples", "5", "--fail-on", "low"])
    audit = json.loads((out / "audit.json").read_text())
    findings = [f"{f['check']}: {f['title']}" for f in audit["findings"]]
    errors = [f"{c['id']}: {c['note']}" for c in audit["checks"] if c["status"] == "error"]
    assert (findings, errors) == ([], [])
    assert code == 0
    skipped = {c["id"] for c in audit["checks"] if c["status"] == "skipped"}
    assert skipped <= {"api2.key_confusion", "api1.ownership", "api8.cookies"}
    assert "audit PASS" in capsys.readouterr().out


@pytest.mark.e2e
def test_a_reference_service_at_host_passes_with_env_tokens_only(tmp_path, monkeypatch):
    """As a user would audit their own deployment: tokens from HARNESS_TOKEN_*, no key.
    The claim forgeries are skipped (no key); revocation still runs, on a token the
    service issues through its [auth] issue route."""
    from harness.service.config import ServiceConfig
    from harness.service.server import start_service
    from tests.conftest import issue_token

    config = ServiceConfig(port=0, workers=1, data_dir=tmp_path / "data", seed_items=50)
    with start_service(config, ready_timeout_s=60) as running:
        for role in ("admin", "user", "viewer", "service"):
            monkeypatch.setenv(f"HARNESS_TOKEN_{role.upper()}", issue_token(config.data_dir, role))
        out = tmp_path / "audit"
        code = main(["audit", "--host", running.url, "--out", str(out), "--max-examples", "2"])
    audit = json.loads((out / "audit.json").read_text())
    status = {c["id"]: c["status"] for c in audit["checks"]}
    assert [f["title"] for f in audit["findings"]] == [] and code == 0
    assert status["api2.revoked"] == "pass" and status["api2.expired"] == "skipped"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_an_unreachable_host_is_bad_input(tmp_path, capsys):
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["audit", "--host", url, "--out", str(tmp_path / "a")]) == 2
    assert "unreachable" in _one_line_error(capsys)
    assert not (tmp_path / "a").exists()


def test_a_spec_that_is_not_openapi_3_is_bad_input(notes_url, tmp_path, capsys):
    spec = tmp_path / "swagger.json"
    spec.write_text(json.dumps({"swagger": "2.0", "paths": {}}))
    code = main(["audit", "--host", notes_url, "--spec", str(spec), "--matrix", str(MATRIX)])
    assert code == 2
    assert "not an OpenAPI 3 document (swagger: '2.0')" in _one_line_error(capsys)


def test_a_malformed_matrix_is_bad_input(notes_url, tmp_path, capsys):
    matrix = tmp_path / "m.toml"
    matrix.write_text('roles = ["a"]\n[[routes]]\npath = "/x"\nexpect = { a = "perhaps" }\n')
    assert main(["audit", "--host", notes_url, "--matrix", str(matrix)]) == 2
    assert "routes[0].expect.a" in _one_line_error(capsys)


def test_a_non_empty_out_is_bad_input(tmp_path, capsys):
    (tmp_path / "audit.json").write_text("{}")
    assert main(["audit", "--out", str(tmp_path)]) == 2
    assert "directory is not empty" in _one_line_error(capsys)


def test_a_bad_fail_on_is_bad_input(capsys):
    assert main(["audit", "--fail-on", "critical", "--host", "http://127.0.0.1:1"]) == 2
    assert "--fail-on" in _one_line_error(capsys)
