"""Forged tokens change exactly one thing: a real keyring refuses each for that reason."""

from __future__ import annotations

import pytest

from harness.audit.client import Redactor
from harness.audit.forge import Forger, signing_key_from_keyring
from harness.service.tokens import LEEWAY_S, Keyring, TokenError


@pytest.fixture
def keyring(tmp_path):
    return Keyring(tmp_path)


@pytest.fixture
def forger(keyring, tmp_path):
    return Forger(keyring.issue("viewer", "v"), signing_key_from_keyring(tmp_path))


def _reason(keyring, token):
    with pytest.raises(TokenError) as caught:
        keyring.verify(token)
    return caught.value.reason


def test_the_resigned_control_token_is_accepted(keyring, forger):
    assert keyring.verify(forger.resigned()).role == "viewer"
    assert keyring.verify(forger.fresh()).jti.startswith("audit-")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda f: f.alg_none(), "algorithm"),
        (lambda f: f.tampered(), "bad_signature"),
        (lambda f: f.expired(LEEWAY_S), "expired"),
        (lambda f: f.not_yet_valid(LEEWAY_S), "not_yet_valid"),
        (lambda f: f.other_audience(), "audience"),
        (lambda f: f.other_issuer(), "issuer"),
    ],
)
def test_each_forgery_is_refused_for_its_own_reason(keyring, forger, make, reason):
    assert _reason(keyring, make(forger)) == reason


def test_no_key_no_resigned_tokens_and_no_key_confusion_for_hmac(keyring):
    forger = Forger(keyring.issue("user", "u"), None, public_key=b"-----BEGIN PUBLIC KEY-----")
    assert forger.resigned() is None and forger.expired(5) is None
    assert not forger.asymmetric and forger.key_confusion() is None


def test_redactor_hides_registered_secrets_and_any_jwt(keyring):
    token = keyring.issue("admin", "a")
    redact = Redactor()
    redact.add(token, "token:admin")
    assert redact(f"Bearer {token}") == "Bearer <token:admin>"
    other = keyring.issue("user", "u")
    assert redact(f"x {other} y") == "x <jwt> y"
