"""schemathesis against a real service's own /openapi.json, with tokens of every role, on
each storage backend.

Every operation of the spec gets a fixed number of generated examples, from a fixed seed:
schemathesis's coverage phase (boundary values, and values the spec calls invalid) and then
EXAMPLES_PER_OPERATION fuzzed ones. Each example is sent with a token of a role holding the
operation's permission (the roles take turns, so every role that may call an operation
does), and every fourth example of a protected operation also with a role lacking it or no
token at all (those take turns too). Each answer must not be a 5xx and must conform to the
spec: a documented status, its content type, its headers and its schema; data the spec
calls invalid must be refused with a 4xx.

The service is this module's own (writes, deletes, key rotations and purges must not touch
the session's shared one), seeded with a few items so reads find some. Run with `-s` to see
the figures: operations, examples, requests and seconds per backend.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import seed as hypothesis_seed
from schemathesis import checks as st_checks

from harness.service.config import ServiceConfig
from harness.service.openapi import build_spec
from harness.service.rbac import ROLES, roles_with
from harness.service.server import ServiceProcess, start_service
from harness.service.tokens import Keyring

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 10
SEED = 20261201
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
]
SPEC = build_spec()

# Built here rather than read from the running service at test time: the service's port is
# known only then, and schemathesis's lazy fixture loader does not work with pytest 9. The
# `fuzzed` fixture checks that the service serves exactly this document.
schema = schemathesis.openapi.from_dict(SPEC)


@dataclass
class Fuzzed:
    """A service under the fuzzer, its tokens by role, and what was sent to it."""

    service: ServiceProcess
    tokens: dict[str, str]
    session: requests.Session
    tally: Counter[str] = field(default_factory=Counter)
    turns: dict[str, Iterator[str | None]] = field(default_factory=dict)

    def next_role(self, operation: str, roles: tuple[str | None, ...]) -> str | None:
        """The next of `roles` for `operation` (each operation and set takes turns alone)."""
        key = f"{operation} {roles}"
        if key not in self.turns:
            self.turns[key] = itertools.cycle(roles)
        return next(self.turns[key])

    def headers(self, role: str | None) -> dict[str, str]:
        """The Authorization header of `role` (none for an anonymous caller)."""
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    """A service of its own for the fuzzer, with 50 items, on each storage backend."""
    data_dir: Path = tmp_path_factory.mktemp(f"fuzzed-{request.param}")
    database = "sqlite"
    if request.param == "postgresql":
        database = str(request.getfixturevalue("postgres_server").create_database("fuzzed"))
    config = ServiceConfig(port=0, workers=1, data_dir=data_dir, seed_items=50, database=database)
    started = time.monotonic()
    with start_service(config, ready_timeout_s=60) as service, requests.Session() as session:
        with urllib.request.urlopen(f"{service.url}/openapi.json", timeout=10) as answer:
            assert json.load(answer) == SPEC
        keyring = Keyring(data_dir)
        tokens = {role: keyring.issue(role, f"fuzz-{role}") for role in ROLES}
        state = Fuzzed(service, tokens, session)
        yield state
    operations = [name for name in state.tally if name.startswith("op ")]
    print(
        f"\nschemathesis on {request.param}: {len(operations)} operations, "
        f"{state.tally['examples']} examples, {state.tally['requests']} requests, "
        f"{state.tally['failures']} failures, {time.monotonic() - started:.1f}s"
    )


@schema.parametrize()
@hypothesis_seed(SEED)
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_conforms_to_the_spec(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    operation = case.operation.label
    # The coverage phase also sends methods the spec does not list (they must get a 405).
    documented = SPEC["paths"][case.operation.path].get(case.method.lower(), {})
    permission = documented.get("x-permission")
    allowed: tuple[str | None, ...] = roles_with(permission)
    lacking = (*(role for role in ROLES if role not in allowed), None)
    fuzzed.tally[f"op {operation}"] += 1
    fuzzed.tally["examples"] += 1
    roles = [fuzzed.next_role(operation, allowed)]
    if permission is not None and fuzzed.tally[f"op {operation}"] % 4 == 1:
        roles.append(fuzzed.next_role(operation, lacking))
    for role in roles:
        fuzzed.tally["requests"] += 1
        fuzzed.tally["failures"] += 1  # taken back below unless the checks raise
        case.call_and_validate(
            base_url=fuzzed.service.url,
            session=fuzzed.session,
            headers=fuzzed.headers(role),
            checks=CHECKS,
            timeout=10,
        )
        fuzzed.tally["failures"] -= 1
