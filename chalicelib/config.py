"""Settings: the only code that reads the environment.

Everything configurable is an environment variable (set per stage in
.chalice/config.json, or by `make dev`). Values are parsed and checked once, at the
first use in a container, so a bad deployment fails loudly and early.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class ConfigError(ValueError):
    """The deployment's configuration is wrong; no request can be served."""


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false")


@dataclass(frozen=True)
class JwtSettings:
    algorithms: tuple[str, ...] = ("HS256",)
    secret: str | None = None
    secret_param: str | None = None  # SSM parameter / Secrets Manager id holding it
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30
    # The claim that holds the user id. `sub` by default; an OIDC provider whose `sub`
    # is not a number (Cognito's is a UUID) can put it in a custom claim instead.
    user_claim: str = "sub"
    jwks_timeout_seconds: int = 3

    def __post_init__(self) -> None:
        algs = set(self.algorithms)
        if not algs:
            raise ConfigError("IM_JWT_ALGORITHMS is empty")
        unknown = algs - HMAC_ALGORITHMS - ASYMMETRIC_ALGORITHMS
        if unknown:  # also refuses "none"
            raise ConfigError(f"IM_JWT_ALGORITHMS has unsupported values: {sorted(unknown)}")
        if self.jwks_url and algs & HMAC_ALGORITHMS:
            # A JWKS public key must never be usable as an HMAC secret.
            raise ConfigError("with IM_JWT_JWKS_URL, IM_JWT_ALGORITHMS must be asymmetric")
        if not self.jwks_url and algs - HMAC_ALGORITHMS:
            raise ConfigError("asymmetric IM_JWT_ALGORITHMS need IM_JWT_JWKS_URL")


@dataclass(frozen=True)
class RateLimit:
    """At most `count` sends per user per `window_seconds`; count 0 disables it."""

    count: int = 100
    window_seconds: int = 10

    @classmethod
    def parse(cls, raw: str | None) -> RateLimit:
        if not raw:
            return cls()
        count, _, window = raw.partition("/")
        try:
            return cls(int(count), int(window or "1"))
        except ValueError as exc:
            raise ConfigError("IM_SEND_RATE_LIMIT is COUNT/SECONDS, e.g. 100/10") from exc


@dataclass(frozen=True)
class Settings:
    mongodb_uri: str | None = None
    mongodb_uri_param: str | None = None
    mongodb_database: str = "im"
    redis_url: str | None = None
    redis_url_param: str | None = None  # when the URL carries an AUTH token
    redis_cluster: bool = False
    jwt: JwtSettings = field(default_factory=JwtSettings)
    management_url: str | None = None
    region: str | None = None
    cors_allow_origins: tuple[str, ...] = ()
    presence_ttl_seconds: int = 2 * 3600 + 300
    push_concurrency: int = 16
    push_timeout_seconds: int = 3
    send_rate: RateLimit = field(default_factory=RateLimit)
    max_request_bytes: int = 256 * 1024
    # Lambda's synchronous response limit is 6 MB; an unread page stops short of it.
    max_page_bytes: int = 4 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        jwt = JwtSettings(
            algorithms=_csv(env.get("IM_JWT_ALGORITHMS")) or ("HS256",),
            secret=env.get("IM_JWT_SECRET") or None,
            secret_param=env.get("IM_JWT_SECRET_PARAM") or None,
            jwks_url=env.get("IM_JWT_JWKS_URL") or None,
            issuer=env.get("IM_JWT_ISSUER") or None,
            audience=env.get("IM_JWT_AUDIENCE") or None,
            leeway_seconds=_int(env, "IM_JWT_LEEWAY_SECONDS", 30),
            user_claim=env.get("IM_JWT_USER_CLAIM") or "sub",
        )
        return cls(
            mongodb_uri=env.get("MONGODB_URI") or None,
            mongodb_uri_param=env.get("MONGODB_URI_PARAM") or None,
            mongodb_database=env.get("MONGODB_DATABASE") or "im",
            redis_url=env.get("REDIS_URL") or None,
            redis_url_param=env.get("REDIS_URL_PARAM") or None,
            redis_cluster=_bool(env, "IM_REDIS_CLUSTER"),
            jwt=jwt,
            # The local API Gateway announces its own management URL to the handlers.
            management_url=(
                env.get("IM_MANAGEMENT_URL") or env.get("LOCALGW_MANAGEMENT_URL") or ""
            ).rstrip("/")
            or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            cors_allow_origins=_csv(env.get("IM_CORS_ALLOW_ORIGINS")),
            presence_ttl_seconds=_int(env, "IM_PRESENCE_TTL_SECONDS", 2 * 3600 + 300, 1),
            push_concurrency=_int(env, "IM_PUSH_CONCURRENCY", 16, 1),
            push_timeout_seconds=_int(env, "IM_PUSH_TIMEOUT_SECONDS", 3, 1),
            send_rate=RateLimit.parse(env.get("IM_SEND_RATE_LIMIT")),
        )
