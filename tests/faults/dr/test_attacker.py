"""The attacker's loop is bounded in time and count, records every request, forges tokens
the real keyring cannot tell from its own (except by the issuance log), and refuses any
target that is not on loopback."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from harness.faults import FaultError
from harness.faults.dr.attacker import Attacker, AttackPlan, forge_token, steal_active_key
from harness.faults.dr.common import wait_until
from harness.faults.dr.revert import issued_jtis
from harness.service.tokens import Keyring


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_forged_token_verifies_but_was_never_issued(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path)
    key = steal_active_key(tmp_path)
    assert key.kid == keyring.active_kid() and "secret" not in repr(key)
    token, jti = forge_token(key, "admin", "intruder")
    claims = keyring.verify(token)
    assert (claims.sub, claims.role, claims.kid, claims.jti) == ("intruder", "admin", key.kid, jti)
    assert jti not in issued_jtis(tmp_path)


def test_the_loop_stops_by_itself_within_its_bounds(tmp_path: Path) -> None:
    key = steal_active_key(Keyring(tmp_path).data_dir)
    plan = AttackPlan(rate_per_s=50, max_duration_s=0.4, item_ids=(1, 5), timeout_s=0.5)
    seen: list[dict[str, object]] = []
    attacker = Attacker(f"http://127.0.0.1:{closed_port()}", key, plan, seen.append)
    started = time.monotonic()
    attacker.start()
    assert wait_until(lambda: not attacker.running, 10.0), "the loop did not end by itself"
    assert time.monotonic() - started < 5.0
    assert 1 <= len(seen) <= plan.max_requests and seen == attacker.records
    first = seen[0]
    assert first["ok"] is False and first["status"] is None and "error" in first
    assert {r["op"] for r in seen} <= {
        "GET /admin/audit",
        "PATCH /api/items/{item_id}",
        "DELETE /api/items/{item_id}",
        "POST /admin/cdn/purge",
    }


def test_only_loopback_targets(tmp_path: Path) -> None:
    key = steal_active_key(Keyring(tmp_path).data_dir)
    with pytest.raises(FaultError, match="loopback addresses only"):
        Attacker("http://192.0.2.10:8080", key, AttackPlan())
    Attacker("http://[::1]:9", key, AttackPlan())  # accepted (not started)
