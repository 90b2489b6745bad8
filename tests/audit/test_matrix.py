"""The access matrix: TOML parsing with precise errors, and the reference default."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.audit.matrix import expectation_met, load_matrix
from harness.audit.reference import reference_matrix
from harness.errors import ConfigError
from harness.service.rbac import ROUTES, roles_with

HERE = Path(__file__).parent


def test_the_vulnerable_services_matrix_reads():
    matrix = load_matrix(HERE / "vulnerable-matrix.toml")
    assert matrix.roles == ("admin", "user", "other", "viewer")
    assert matrix.routes[1].expect["viewer"] == 403
    assert matrix.objects[0].intruders == ("other",)
    assert matrix.limits.page_max == 100
    assert matrix.auth_probe() is not None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("roles = [", "not valid TOML"),
        ("roles = []", "roles"),
        ('roles = ["a"]\n[[routes]]\npath = "/x"\nexpect = { a = "maybe" }', "routes[0].expect.a"),
        ('roles = ["a"]\n[[routes]]\npath = "x"\nexpect = {}', "routes[0].path"),
        ('roles = ["a"]\n[[routes]]\npath = "/x"\nexpect = { b = 200 }', "routes[0].expect.b"),
        ('roles = ["a"]\nsurprise = 1', "surprise"),
        ('roles = ["a"]\n[[objects]]\nowner = "z"\ncreate = {path="/x"}', "objects[0].owner"),
    ],
)
def test_a_malformed_matrix_is_one_line_naming_the_field(tmp_path, text, where):
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_matrix(path)
    message = str(caught.value)
    assert where in message and str(path) in message
    assert "\n" not in message


def test_the_default_matrix_is_the_reference_services_route_table():
    matrix = reference_matrix()
    by_method_path = {(r.call.method, r.call.path): r for r in matrix.routes}
    delete = by_method_path[("DELETE", "/api/items/2000000001")]
    assert {role for role, e in delete.expect.items() if e == "allow"} == set(
        roles_with("items:delete")
    )
    assert delete.expect["anonymous"] == 401
    assert len(matrix.routes) == len(ROUTES) - 1  # all but key rotation
    assert matrix.auth.revoke is not None


@pytest.mark.parametrize(
    ("expect", "status", "met"),
    [
        ("allow", 200, True),
        ("allow", 404, True),
        ("allow", 403, False),
        ("allow", 500, False),
        ("deny", 404, True),
        ("deny", 200, False),
        (201, 201, True),
        (201, 200, False),
        (401, None, False),
    ],
)
def test_expectations(expect, status, met):
    assert expectation_met(expect, status) is met
