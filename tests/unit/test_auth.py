"""Token checks: every way a token can be wrong is a 401-class InvalidToken; which roles may act
as operators and as administrators."""

import time
from types import SimpleNamespace

import jwt
import pytest

from serve_apps.auth import AuthConfig, InvalidToken, Principal, TokenVerifier, admin_of, issue_token, operator_of
from serve_apps.errors import ApiError

AUTH = AuthConfig(algorithm="HS256", secret="s3cret-s3cret-s3cret-s3cret-s3cret")


def claims(**overrides):
    now = int(time.time())
    base = {"sub": "alice", "tenant": "t1", "role": "user", "aud": AUTH.audience,
            "iss": AUTH.issuer, "iat": now, "exp": now + 60}
    base.update(overrides)
    return base


def test_issued_token_verifies_to_its_principal():
    principal = TokenVerifier(AUTH).verify(issue_token(AUTH, "alice", "t1", "operator"))
    assert (principal.user_id, principal.tenant_id, principal.role) == ("alice", "t1", "operator")


def request_of(role: str) -> SimpleNamespace:
    return SimpleNamespace(state=SimpleNamespace(principal=Principal("alice", "t1", role)))


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_operators_and_administrators_may_act_as_operators(role):
    assert operator_of(request_of(role), "complete bookings").role == role


@pytest.mark.parametrize("role", ["user", "operator"])
def test_only_administrators_may_act_as_administrators(role):
    with pytest.raises(ApiError, match="Only administrators can promote models"):
        admin_of(request_of(role), "promote models")


@pytest.mark.parametrize("token", [
    jwt.encode(claims(), "wrong-secret-wrong-secret-wrong-secret", algorithm="HS256"),
    jwt.encode(claims(exp=int(time.time()) - 10), "s3cret-s3cret-s3cret-s3cret-s3cret", algorithm="HS256"),
    jwt.encode(claims(aud="someone-else"), "s3cret-s3cret-s3cret-s3cret-s3cret", algorithm="HS256"),
    jwt.encode(claims(iss="evil"), "s3cret-s3cret-s3cret-s3cret-s3cret", algorithm="HS256"),
    jwt.encode(claims(), None, algorithm="none"),
    jwt.encode(claims(role="superuser"), "s3cret-s3cret-s3cret-s3cret-s3cret", algorithm="HS256"),
    jwt.encode({k: v for k, v in claims().items() if k != "exp"}, "s3cret-s3cret-s3cret-s3cret-s3cret", algorithm="HS256"),
    "not-a-jwt",
], ids=["bad-signature", "expired", "wrong-audience", "wrong-issuer", "alg-none", "unknown-role",
        "no-expiry", "garbage"])
def test_bad_tokens_are_refused(token):
    with pytest.raises(InvalidToken):
        TokenVerifier(AUTH).verify(token)


def test_rs256_mode_requires_jwks_and_refuses_local_issuing():
    with pytest.raises(ValueError):
        TokenVerifier(AuthConfig(algorithm="RS256"))
    with pytest.raises(ValueError):
        issue_token(AuthConfig(algorithm="RS256", jwks_url="http://127.0.0.1:1/jwks"), "alice")


def test_a_remembered_token_still_expires():
    verifier = TokenVerifier(AUTH)
    expires = int(time.time()) + 2
    token = jwt.encode(claims(exp=expires), AUTH.secret, algorithm="HS256")
    assert verifier.verify(token).user_id == "alice"
    assert verifier.verify(token).user_id == "alice"  # from the cache
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(InvalidToken):
        verifier.verify(token)
