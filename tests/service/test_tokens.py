"""Keyring: issuing, every refusal reason, rotation, revocation, sharing between processes."""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest

from harness import cli
from harness.errors import ConfigError
from harness.service import keystore
from harness.service import tokens as tokens_module
from harness.service.tokens import (
    AUDIENCE,
    ISSUER,
    LEEWAY_S,
    MAX_TOKEN_TTL_S,
    TOKEN_ERROR_REASONS,
    Keyring,
    TokenError,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _secret(data_dir: Path, kid: str) -> bytes:
    rows = json.loads((data_dir / "keys.json").read_text())["keys"]
    return base64.urlsafe_b64decode(next(r["secret"] for r in rows if r["kid"] == kid))


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "alice",
        "role": "user",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    claims.update(overrides)
    return claims


def _refused(keyring: Keyring, token: str) -> str:
    with pytest.raises(TokenError) as info:
        keyring.verify(token)
    assert info.value.reason in TOKEN_ERROR_REASONS
    assert token not in str(info.value) or not token
    return info.value.reason


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring(tmp_path)


def test_issue_then_verify_round_trip(keyring: Keyring) -> None:
    token = keyring.issue("viewer", "bob", ttl_s=60)
    claims = keyring.verify(token)
    assert (claims.sub, claims.role, claims.kid) == ("bob", "viewer", keyring.active_kid())
    assert claims.exp - claims.iat == 60
    assert claims.nbf == claims.iat
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == ISSUER and payload["aud"] == AUDIENCE and payload["jti"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_issue_rejects_bad_input(keyring: Keyring) -> None:
    with pytest.raises(ValueError, match="role"):
        keyring.issue("root", "x")
    for ttl_s in (0, -1, math.inf, math.nan, 1e308, MAX_TOKEN_TTL_S + 1):
        with pytest.raises(ValueError, match="ttl"):
            keyring.issue("user", "x", ttl_s=ttl_s)
    assert keyring.verify(keyring.issue("user", "x", ttl_s=MAX_TOKEN_TTL_S)).sub == "x"
    with pytest.raises(ValueError, match="kid"):
        keyring.issue("user", "x", kid="no-such-kid")


def test_keys_file_is_private_and_created_once(tmp_path: Path) -> None:
    Keyring(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode)
    assert mode == 0o600
    rows = json.loads((tmp_path / "keys.json").read_text())["keys"]
    assert [r["status"] for r in rows] == ["active"]
    Keyring(tmp_path)
    assert json.loads((tmp_path / "keys.json").read_text())["keys"] == rows


def test_concurrent_first_start_agrees_on_one_key(tmp_path: Path) -> None:
    rings: list[Keyring] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        rings.append(Keyring(tmp_path / "shared"))

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len({ring.active_kid() for ring in rings}) == 1
    token = rings[0].issue("user", "u")
    assert all(ring.verify(token).sub == "u" for ring in rings)


def test_expired_token_refused_after_leeway(tmp_path: Path) -> None:
    past = Keyring(tmp_path, clock=lambda: time.time() - 3600)
    token = past.issue("user", "u", ttl_s=60)
    assert _refused(Keyring(tmp_path), token) == "expired"


def test_expiry_within_leeway_is_accepted(tmp_path: Path) -> None:
    just_expired = Keyring(tmp_path, clock=lambda: time.time() - 61)
    token = just_expired.issue("user", "u", ttl_s=60)
    assert LEEWAY_S >= 2
    assert Keyring(tmp_path).verify(token).sub == "u"


def test_not_yet_valid_token_refused(tmp_path: Path) -> None:
    future = Keyring(tmp_path, clock=lambda: time.time() + 3600)
    assert _refused(Keyring(tmp_path), future.issue("user", "u")) == "not_yet_valid"


def test_tampered_signature_refused(keyring: Keyring) -> None:
    head, body, sig = keyring.issue("user", "u").split(".")
    middle = len(sig) // 2
    flipped = sig[:middle] + ("A" if sig[middle] != "A" else "B") + sig[middle + 1 :]
    assert _refused(keyring, f"{head}.{body}.{flipped}") == "bad_signature"


def test_tampered_payload_refused(keyring: Keyring) -> None:
    head, body, sig = keyring.issue("viewer", "u").split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["role"] = "admin"
    forged = _b64(json.dumps(payload).encode())
    assert _refused(keyring, f"{head}.{forged}.{sig}") == "bad_signature"


def test_alg_none_refused(keyring: Keyring) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": keyring.active_kid()}
    unsigned = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}."
    assert _refused(keyring, unsigned) == "algorithm"
    header["alg"] = "None"
    unsigned = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}."
    assert _refused(keyring, unsigned) == "algorithm"


def test_other_hmac_algorithm_refused(tmp_path: Path, keyring: Keyring) -> None:
    kid = keyring.active_kid()
    secret = _secret(tmp_path, kid) * 2  # HS512 wants 64 bytes; the header is what's refused
    token = jwt.encode(_claims(), secret, "HS512", headers={"kid": kid})
    assert _refused(keyring, token) == "algorithm"


def test_unknown_or_missing_kid_refused(keyring: Keyring) -> None:
    secret = b"k" * 32
    assert _refused(keyring, jwt.encode(_claims(), secret, "HS256", {"kid": "nope"})) == (
        "unknown_kid"
    )
    assert _refused(keyring, jwt.encode(_claims(), secret, "HS256")) == "unknown_kid"


def test_wrong_audience_and_issuer_refused(tmp_path: Path, keyring: Keyring) -> None:
    kid = keyring.active_kid()
    secret = _secret(tmp_path, kid)
    wrong_aud = jwt.encode(_claims(aud="someone-else"), secret, "HS256", {"kid": kid})
    assert _refused(keyring, wrong_aud) == "audience"
    wrong_iss = jwt.encode(_claims(iss="evil"), secret, "HS256", {"kid": kid})
    assert _refused(keyring, wrong_iss) == "issuer"


def test_missing_claim_and_unknown_role_refused(tmp_path: Path, keyring: Keyring) -> None:
    kid = keyring.active_kid()
    secret = _secret(tmp_path, kid)
    no_jti = _claims()
    del no_jti["jti"]
    assert _refused(keyring, jwt.encode(no_jti, secret, "HS256", {"kid": kid})) == "claims"
    root = jwt.encode(_claims(role="root"), secret, "HS256", {"kid": kid})
    assert _refused(keyring, root) == "claims"


def test_a_token_living_longer_than_the_maximum_is_refused(
    tmp_path: Path, keyring: Keyring
) -> None:
    kid = keyring.active_kid()
    secret = _secret(tmp_path, kid)
    now = int(time.time())
    forever = _claims(iat=now, nbf=now, exp=now + 10**9)
    assert _refused(keyring, jwt.encode(forever, secret, "HS256", {"kid": kid})) == "claims"
    longest = _claims(iat=now, nbf=now, exp=now + MAX_TOKEN_TTL_S)
    assert keyring.verify(jwt.encode(longest, secret, "HS256", {"kid": kid})).kid == kid


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "....", "eyJ.eyJ.sig", "\u00e9.\u00e9.x"])
def test_garbage_refused(keyring: Keyring, garbage: str) -> None:
    assert _refused(keyring, garbage) in {"malformed", "algorithm", "unknown_kid"}


def test_revoked_jti_refused_others_unaffected(keyring: Keyring) -> None:
    revoked, kept = keyring.issue("user", "a"), keyring.issue("user", "b")
    keyring.revoke(jti=keyring.verify(revoked).jti)
    assert _refused(keyring, revoked) == "revoked_jti"
    assert keyring.verify(kept).sub == "b"


def test_rotation_keeps_retired_keys_until_revoked(keyring: Keyring) -> None:
    old_kid = keyring.active_kid()
    old_token = keyring.issue("user", "old")
    new_kid = keyring.rotate()
    assert new_kid != old_kid and keyring.active_kid() == new_kid
    statuses = {k.kid: k.status for k in keyring.key_info()}
    assert statuses == {old_kid: "retired", new_kid: "active"}
    assert keyring.verify(old_token).kid == old_kid
    new_token = keyring.issue("user", "new")
    assert keyring.verify(new_token).kid == new_kid
    keyring.revoke(kid=old_kid)
    assert _refused(keyring, old_token) == "revoked_kid"
    assert keyring.verify(new_token).sub == "new"


def test_revoking_active_key_rotates_and_erases_secret(tmp_path: Path, keyring: Keyring) -> None:
    leaked = keyring.active_kid()
    token = keyring.issue("admin", "x")
    keyring.revoke(kid=leaked)
    assert _refused(keyring, token) == "revoked_kid"
    assert keyring.active_kid() != leaked
    assert keyring.verify(keyring.issue("admin", "y")).sub == "y"
    rows = json.loads((tmp_path / "keys.json").read_text())["keys"]
    assert next(r for r in rows if r["kid"] == leaked)["secret"] == ""
    with pytest.raises(ValueError):
        keyring.revoke(kid="no-such-kid")
    with pytest.raises(ValueError):
        keyring.revoke()


def test_two_keyrings_on_one_dir_see_each_others_changes(tmp_path: Path) -> None:
    a, b = Keyring(tmp_path), Keyring(tmp_path)
    token = a.issue("user", "u")
    assert b.verify(token).sub == "u"
    new_kid = b.rotate()
    assert a.active_kid() == new_kid
    a.revoke(jti=a.verify(token).jti)
    assert _refused(b, token) == "revoked_jti"
    fresh = b.issue("user", "v")
    b.revoke(kid=new_kid)
    assert _refused(a, fresh) == "revoked_kid"


def test_revocation_by_another_process_is_seen_on_next_verify(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path)
    token = keyring.issue("service", "svc")
    jti = keyring.verify(token).jti
    code = (
        "import sys; from pathlib import Path; from harness.service.tokens import Keyring; "
        "Keyring(Path(sys.argv[1])).revoke(jti=sys.argv[2])"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), jti], check=True, timeout=60)
    assert _refused(keyring, token) == "revoked_jti"


def test_damaged_keys_file_keeps_last_good_keys(
    tmp_path: Path, keyring: Keyring, caplog: pytest.LogCaptureFixture
) -> None:
    token = keyring.issue("user", "u")
    (tmp_path / "keys.json").write_text("{not json")  # by hand: seen by the periodic stat
    keyring.recheck_files_s = 0.0
    with caplog.at_level(logging.ERROR, logger="harness.service.tokens"):
        assert keyring.verify(token).sub == "u"
    assert "keys.json" in caplog.text
    with pytest.raises(ConfigError, match=r"keys\.json"):
        Keyring(tmp_path)


def test_secrets_never_in_messages(tmp_path: Path, keyring: Keyring) -> None:
    kid = keyring.active_kid()
    secret = _secret(tmp_path, kid)
    encoded = base64.urlsafe_b64encode(secret).decode()
    for token in [jwt.encode(_claims(aud="x"), secret, "HS256", {"kid": kid}), "garbage"]:
        with pytest.raises(TokenError) as info:
            keyring.verify(token)
        assert encoded not in str(info.value) and encoded.rstrip("=") not in info.value.message


def test_remembered_token_still_expires_and_is_revoked(
    keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = keyring.issue("user", "u", ttl_s=60)
    exp = keyring.verify(token).exp
    assert keyring.verify(token).sub == "u"  # from the memo this time

    class Later:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def time() -> float:
            return exp + LEEWAY_S + 1

    monkeypatch.setattr(tokens_module, "time", Later)
    assert _refused(keyring, token) == "expired"
    monkeypatch.undo()
    other = keyring.issue("user", "w")
    keyring.verify(other)
    keyring.revoke(kid=keyring.active_kid())
    assert _refused(keyring, other) == "revoked_kid"


def test_signing_key_repr_hides_the_secret(tmp_path: Path, keyring: Keyring) -> None:
    key = keystore.read_keys(tmp_path / "keys.json")[0]
    assert base64.urlsafe_b64encode(key.secret).decode() not in repr(key)
    assert "secret" not in repr(key)


def test_token_command_prints_an_accepted_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["token", "--role", "service", "--ttl", "1h", "--data-dir", str(tmp_path)])
    assert code == 0
    claims = Keyring(tmp_path).verify(capsys.readouterr().out.strip())
    assert (claims.role, claims.sub, claims.exp - claims.iat) == ("service", "cli-service", 3600)
    cli.main(["token", "--role", "viewer", "--sub", "ops-1", "--data-dir", str(tmp_path)])
    assert Keyring(tmp_path).verify(capsys.readouterr().out.strip()).sub == "ops-1"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--role", "root"], "--role"),
        (["--role", "user", "--ttl", "soon"], "--ttl"),
        *((["--role", "user", "--ttl", ttl], "--ttl") for ttl in ("inf", "nan", "-5", "0")),
        *((["--role", "user", "--ttl", ttl], "--ttl") for ttl in ("1e308", "2592001", "721h")),
    ],
)
def test_token_command_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    assert cli.main(["token", *flags, "--data-dir", str(tmp_path)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and named in out.err


def test_the_command_and_the_keyring_share_one_maximum() -> None:
    from harness.commands import token as token_command

    assert token_command.MAX_TTL_S == MAX_TOKEN_TTL_S
