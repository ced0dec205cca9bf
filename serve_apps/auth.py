"""Bearer-token authentication: HS256 with a local secret, or RS256 keys from a JWKS URL."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from pydantic import BaseModel

from serve_apps.errors import ApiError
from serve_apps.roles import ADMIN, OPERATOR_ROLES, ROLES, USER

DEFAULT_TENANT = "default"
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
MAX_SUBJECT_LENGTH = 256
# What a client is told of a refused token: PyJWT's own texts name its internals.
REFUSAL_OF_ERROR: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not valid yet"),
    (jwt.InvalidAudienceError, "token meant for another audience"),
    (jwt.InvalidIssuerError, "token from another issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.MissingRequiredClaimError, "token lacks a required claim (exp, sub, aud)"),
    (jwt.InvalidAlgorithmError, "token signed with an algorithm not accepted here"),
    (jwt.PyJWKClientError, "no key found for the token"),
    (jwt.DecodeError, "malformed token"),
)


class AuthConfig(BaseModel):
    """How bearer tokens are checked: HS256 with a shared secret, or RS256 against a JWKS URL."""

    algorithm: Literal["HS256", "RS256"] = "HS256"
    secret: str | None = None
    jwks_url: str | None = None
    audience: str = "fleetray"
    issuer: str = "fleetray-local"


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    role: str

    @property
    def is_operator(self) -> bool:
        return self.role in OPERATOR_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def principal_of(request) -> Principal:
    """The caller, as RequestContextMiddleware authenticated it."""
    return request.state.principal


def operator_of(request, action: str) -> Principal:
    """The caller, who must be an operator: FORBIDDEN "Only operators can <action>" otherwise."""
    who = principal_of(request)
    if not who.is_operator:
        raise ApiError("FORBIDDEN", f"Only operators can {action}")
    return who


def admin_of(request, action: str) -> Principal:
    """The caller, who must be an administrator: FORBIDDEN "Only administrators can <action>"
    otherwise."""
    who = principal_of(request)
    if not who.is_admin:
        raise ApiError("FORBIDDEN", f"Only administrators can {action}")
    return who


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed, expired or meant for someone else."""


class TokenVerifier:
    """Checks tokens; a token already verified is remembered until its expiry, so the
    signature check runs once per token rather than once per request."""

    CACHE_SIZE = 10_000

    def __init__(self, auth: AuthConfig):
        self.auth = auth
        self._verified: dict[str, tuple[Principal, float]] = {}
        if auth.algorithm == "RS256":
            if not auth.jwks_url:
                raise ValueError("RS256 needs a JWKS URL")
            self._jwks = jwt.PyJWKClient(auth.jwks_url, cache_keys=True)
        elif not auth.secret:
            raise ValueError("HS256 needs a secret")

    def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        principal, expires_at = self._verify_signature_and_claims(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires_at)
        return principal

    def _verify_signature_and_claims(self, token: str) -> tuple[Principal, float]:
        try:
            if self.auth.algorithm == "RS256":
                key = self._jwks.get_signing_key_from_jwt(token).key
            else:
                key = self.auth.secret
            # Only the configured algorithm is accepted: 'none' and algorithm swaps fail here.
            claims = jwt.decode(
                token, key, algorithms=[self.auth.algorithm], audience=self.auth.audience,
                issuer=self.auth.issuer, options={"require": ["exp", "sub", "aud"]})
        except jwt.PyJWTError as exc:
            refusal = next((text for kind, text in REFUSAL_OF_ERROR if isinstance(exc, kind)), "invalid token")
            raise InvalidToken(refusal) from exc
        principal = Principal(_subject(claims.get("sub")), _tenant(claims.get("tenant")),
                              _role(claims.get("role", USER)))
        return principal, float(claims["exp"])


def _subject(sub: Any) -> str:
    """The user id: a non-empty string of printable characters (it is stored in the audit log)."""
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUBJECT_LENGTH or not sub.isprintable():
        raise InvalidToken(f"sub must be a non-empty printable string of at most {MAX_SUBJECT_LENGTH} characters")
    return sub


def _tenant(tenant: Any) -> str:
    """The tenant, which every token must name: a missing one never falls back to another's."""
    if not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant):
        raise InvalidToken("tenant must be a tenant id (letters, digits and _.:-, at most 64)")
    return tenant


def _role(role: Any) -> str:
    if role not in ROLES:
        raise InvalidToken(f"role must be one of {', '.join(ROLES)}")
    return role


def issue_token(auth: AuthConfig, user_id: str, tenant_id: str = DEFAULT_TENANT,
                role: str = USER, ttl_seconds: int = 24 * 3600) -> str:
    """Sign a local HS256 token the running stack accepts (identity providers sign RS256 ones)."""
    if auth.algorithm != "HS256" or not auth.secret:
        raise ValueError("tokens can only be issued locally in HS256 mode")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    now = int(time.time())
    claims = {"sub": user_id, "tenant": tenant_id, "role": role, "aud": auth.audience,
              "iss": auth.issuer, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, auth.secret, algorithm="HS256")
