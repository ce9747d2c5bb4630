"""Access tokens: what decode_access_token accepts and, above all, what it refuses."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from gochat.auth.tokens import AccessClaims, InvalidToken, TokenExpired, decode_access_token, issue_access_token
from gochat.settings import Settings

SECRET = "unit-test-secret-" + "k" * 48  # 64 bytes: long enough for HS512 too
SETTINGS = Settings(jwt_secret=SECRET)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 900,
        "iss": "gochat",
        "aud": "gochat",
        "typ": "access",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def test_an_issued_token_decodes_to_its_user_and_session() -> None:
    user, session = uuid.uuid4(), uuid.uuid4()
    token = issue_access_token(SETTINGS, user, session)
    decoded = decode_access_token(SETTINGS, token)
    assert decoded == AccessClaims(user, session, decoded.expires_at)
    assert decoded.expires_at - time.time() == pytest.approx(SETTINGS.access_token_ttl, abs=2)
    raw = jwt.decode(token, SECRET, algorithms=["HS256"], audience="gochat")
    assert set(raw) == {"sub", "sid", "iat", "exp", "iss", "aud", "typ"}
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_the_default_lifetime_is_fifteen_minutes() -> None:
    assert Settings().access_token_ttl == 15 * 60


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(claims(), None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        decode_access_token(SETTINGS, unsigned)


def test_another_hmac_algorithm_with_the_right_key_is_refused() -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(SETTINGS, sign(claims(), algorithm="HS512"))


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(SETTINGS, sign(claims(), key="another-secret-" + "z" * 32))


def test_expired_tokens_are_refused_as_expired() -> None:
    now = int(time.time())
    with pytest.raises(TokenExpired):
        decode_access_token(SETTINGS, sign(claims(iat=now - 1000, exp=now - 31)))
    # leeway is 0 s (see tokens.py): one second past `exp` is already too late
    with pytest.raises(TokenExpired):
        decode_access_token(SETTINGS, sign(claims(iat=now - 1000, exp=now - 1)))


def test_a_token_issued_in_the_future_is_refused() -> None:
    now = int(time.time())
    with pytest.raises(InvalidToken):
        decode_access_token(SETTINGS, sign(claims(iat=now + 60, exp=now + 960)))


@pytest.mark.parametrize(("claim", "value"), [("aud", "someone-else"), ("iss", "evil"), ("typ", "refresh")])
def test_wrong_audience_issuer_or_type_is_refused(claim: str, value: str) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(SETTINGS, sign(claims(**{claim: value})))


@pytest.mark.parametrize("missing", ["sub", "sid", "iat", "exp", "iss", "aud", "typ"])
def test_every_claim_is_required(missing: str) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(SETTINGS, sign(claims(**{missing: None})))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x", "0" * 43])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(SETTINGS, garbage)


def test_a_subject_that_is_not_a_user_id_is_refused() -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(SETTINGS, sign(claims(sub="admin")))
