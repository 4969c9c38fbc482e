"""Who is calling: the user id is the `sub` of a verified JWT, and nothing else.

HS256-family tokens are checked against a shared secret; RS/ES/PS/EdDSA tokens against
a JWKS (any OIDC provider, e.g. Cognito). The accepted algorithms are an explicit
allow-list (never `none`, never HMAC with a public key), `exp` is required, and
`iss`/`aud` are checked when configured. Failure reasons go to metrics, never the token.
The user id is a decimal string in `sub` (or the claim IM_JWT_USER_CLAIM names).

A token that is wrong is `Unauthorized` (401). A token that cannot be checked now,
because the JWKS endpoint is unreachable, fails or answers something that is not a key
set, is `Unavailable` (503): the client should retry, not sign in again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import jwt

from chalicelib.chat.domain import USER_ID_MAX
from chalicelib.config import JwtSettings
from chalicelib.config_rules import check_hmac_secret
from chalicelib.errors import Unauthorized, Unavailable
from chalicelib.observability import logger

_USER = re.compile(r"[1-9][0-9]{0,18}")  # decimal, no sign, no leading zero
_BEARER = re.compile(r"Bearer[ \t]+(\S+)[ \t]*", re.IGNORECASE)


@dataclass(frozen=True)
class Verified:
    """What a valid token proves: who, until when, and since when (epoch seconds)."""

    user: int
    expires_at: float
    issued_at: float | None = None


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Verified:
        """The token's user and lifetime, or raise Unauthorized."""
        ...

    def user_of(self, token: str) -> int:
        """The user id the token proves, or raise Unauthorized."""
        ...


class KeySetClient(jwt.PyJWKClient):
    """PyJWKClient whose every failure to get the key set is `Unavailable`; a key set
    without the token's `kid` is still PyJWT's error (the token's fault: 401)."""

    def get_signing_keys(self, refresh: bool = False) -> list[jwt.PyJWK]:
        try:
            return super().get_signing_keys(refresh)
        # Connection errors and HTTP errors are PyJWKClientConnectionError; a set with
        # no usable key PyJWKSetError or PyJWKClientError; a body that is not JSON a
        # ValueError PyJWT lets through.
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, ValueError) as exc:
            logger.warning("JWKS unavailable", extra={"error": str(exc)[:300]})
            raise Unavailable("cannot verify tokens now; retry later") from exc


class JwtVerifier:
    def __init__(
        self,
        settings: JwtSettings,
        secret: str | None = None,
        jwks_client: jwt.PyJWKClient | None = None,
    ) -> None:
        if jwks_client is None and not secret:
            raise ValueError("a JWT secret or a JWKS client is required")
        if jwks_client is None and secret:
            check_hmac_secret(secret, settings.algorithms, "the JWT secret")
        self._settings = settings
        self._secret = secret
        self._jwks = jwks_client

    @classmethod
    def from_settings(cls, settings: JwtSettings, secret: str | None) -> JwtVerifier:
        if settings.jwks_url:
            # PyJWKClient caches the key set and refetches on an unknown `kid`.
            client = KeySetClient(
                settings.jwks_url, lifespan=3600, timeout=settings.jwks_timeout_seconds
            )
            return cls(settings, jwks_client=client)
        return cls(settings, secret=secret)

    def user_of(self, token: str) -> int:
        return self.verify(token).user

    def verify(self, token: str) -> Verified:
        try:
            key: object = self._secret
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key=key,  # type: ignore[arg-type]
                algorithms=list(self._settings.algorithms),
                issuer=self._settings.issuer,
                audience=self._settings.audience,
                leeway=self._settings.leeway_seconds,
                options={
                    "require": ["exp", self._settings.user_claim],
                    "verify_aud": self._settings.audience is not None,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid or expired token") from exc
        user = claims.get(self._settings.user_claim)
        if not isinstance(user, str) or not _USER.fullmatch(user) or int(user) > USER_ID_MAX:
            raise Unauthorized("token subject is not a user id")
        issued = claims.get("iat")
        return Verified(
            int(user),
            float(claims["exp"]),
            float(issued) if isinstance(issued, int | float) else None,
        )


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <jwt>` header (header names any case)."""
    for name, value in headers.items():
        if name.lower() == "authorization":
            match = _BEARER.fullmatch(value)
            return match.group(1) if match else None
    return None


def connect_token(query: Mapping[str, str] | None, headers: Mapping[str, str] | None) -> str | None:
    """A WebSocket handshake's token: `?token=` (browsers can't set headers) or Bearer."""
    if query and query.get("token"):
        return query["token"]
    return bearer_token(headers or {})
