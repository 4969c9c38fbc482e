"""Who is calling: the user id is the `sub` of a verified JWT, and nothing else.

HS256-family tokens are checked against a shared secret; RS/ES/PS/EdDSA tokens against
a JWKS (any OIDC provider, e.g. Cognito). The accepted algorithms are an explicit
allow-list (never `none`, never HMAC with a public key), `exp` is required, and
`iss`/`aud` are checked when configured. Failure reasons go to metrics, never the token.
The user id is a decimal string in `sub` (or the claim IM_JWT_USER_CLAIM names).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

import jwt

from chalicelib.config import JwtSettings
from chalicelib.errors import Unauthorized
from chalicelib.models import USER_ID_MAX

_USER = re.compile(r"[1-9][0-9]{0,18}")  # decimal, no sign, no leading zero
_BEARER = re.compile(r"Bearer[ \t]+(\S+)[ \t]*", re.IGNORECASE)


class TokenVerifier(Protocol):
    def user_of(self, token: str) -> int:
        """The user id the token proves, or raise Unauthorized."""
        ...


class JwtVerifier:
    def __init__(
        self,
        settings: JwtSettings,
        secret: str | None = None,
        jwks_client: jwt.PyJWKClient | None = None,
    ) -> None:
        if jwks_client is None and not secret:
            raise ValueError("a JWT secret or a JWKS client is required")
        self._settings = settings
        self._secret = secret
        self._jwks = jwks_client

    @classmethod
    def from_settings(cls, settings: JwtSettings, secret: str | None) -> JwtVerifier:
        if settings.jwks_url:
            # PyJWKClient caches the key set and refetches on an unknown `kid`.
            client = jwt.PyJWKClient(
                settings.jwks_url, lifespan=3600, timeout=settings.jwks_timeout_seconds
            )
            return cls(settings, jwks_client=client)
        return cls(settings, secret=secret)

    def user_of(self, token: str) -> int:
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
        return int(user)


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
