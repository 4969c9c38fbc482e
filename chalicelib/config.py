"""Settings: the only code that reads the environment.

Everything configurable is an environment variable (set per stage in
.chalice/config.json, or by `make dev`). Values are parsed and checked once, at the
first use in a container, so a bad deployment fails loudly and early: an unsafe value
is a `ConfigError` naming the variable and the rule -- never the value, which may be a
secret -- not a setting quietly ignored. The rules and their bounds are listed in
docs/deploy.md ("Settings the app refuses").

Two settings say where the app runs. `IM_ALLOW_INSECURE_LOCAL=true` (set by `make dev`,
never on Lambda) allows what only a developer's machine may do: CORS for any origin.
`IM_PRODUCTION=true` (the prod stage) demands what production must have: Redis over
TLS with AUTH, and no secret in a plain environment variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.config_rules import ConfigError as ConfigError  # callers import it here
from chalicelib.config_rules import (
    check_cors_origins,
    check_hmac_secret,
    check_jwks_url,
    check_redis_url,
    has_password,
)

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# Clock skew worth tolerating is seconds; five minutes is Kerberos' classic ceiling.
MAX_LEEWAY_SECONDS = 300
MAX_RATE_COUNT = 1_000_000
MAX_RATE_WINDOW_SECONDS = 24 * 3600
_RATE = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*")


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    minimum: int = 0,
    maximum: int | None = None,
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false")


def _aws_credentials(env: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return key, secret, env.get("AWS_SESSION_TOKEN") or None


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
        if not 0 <= self.leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ConfigError(f"IM_JWT_LEEWAY_SECONDS must be 0 to {MAX_LEEWAY_SECONDS}")
        if self.secret and not self.jwks_url:
            check_hmac_secret(self.secret, algs, "IM_JWT_SECRET")
        if self.jwks_url:
            check_jwks_url(self.jwks_url)
            # An identity provider's keys sign tokens for all of its clients (and, with
            # a shared key set, all of its tenants): without `aud` any of them would be
            # accepted here, and without `iss` a token of another issuer on those keys.
            if not self.audience:
                raise ConfigError("IM_JWT_JWKS_URL needs IM_JWT_AUDIENCE (this API's client id)")
            if not self.issuer:
                raise ConfigError("IM_JWT_JWKS_URL needs IM_JWT_ISSUER (the provider's `iss`)")


@dataclass(frozen=True)
class RateLimit:
    """At most `count` sends per user per `window_seconds`; count 0 disables it."""

    count: int = 100
    window_seconds: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.count <= MAX_RATE_COUNT:
            raise ConfigError(f"IM_SEND_RATE_LIMIT: COUNT must be 0 (no limit) to {MAX_RATE_COUNT}")
        if not 1 <= self.window_seconds <= MAX_RATE_WINDOW_SECONDS:
            raise ConfigError(f"IM_SEND_RATE_LIMIT: SECONDS must be 1 to {MAX_RATE_WINDOW_SECONDS}")

    @classmethod
    def parse(cls, raw: str | None) -> RateLimit:
        if raw is None or not raw.strip():
            return cls()
        match = _RATE.fullmatch(raw)
        if match is None:  # also "-5/10" and "100": both parts, no sign
            raise ConfigError(
                "IM_SEND_RATE_LIMIT is COUNT/SECONDS, e.g. 100/10 (0/10 turns it off)"
            )
        return cls(int(match[1]), int(match[2]))


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
    # A page stops before its JSON passes this (never empty): sane for mobile clients,
    # and far below Lambda's 6 MB response limit.
    max_page_bytes: int = 1024 * 1024
    recall_window_seconds: int = 120
    max_group_members: int = 500
    # A send whose fan-out reaches at most this many live connections is pushed before
    # it is acknowledged (ordering for senders that wait for acks); a bigger one is
    # acknowledged first, and members order by seq.
    push_before_ack_max: int = 50
    # The `$default` route has a route response (make package / make deploy create it):
    # answer frames are returned, not posted.
    ack_route_response: bool = False
    # Live connections one user may have; a $connect beyond it is a 429 (0: no cap).
    max_connections_per_user: int = 20
    # Posts per push at most: a 500-member group of 20-device users is 10,000 posts.
    max_fanout: int = 2000
    # After MongoDB or Redis fails to answer, requests fail (or, for the limiter, pass)
    # at once for this long before one probes again.
    breaker_cooldown_seconds: int = 5
    # (access key, secret key, session token) when the environment has them, as Lambda's
    # does; never printed.
    aws_credentials: tuple[str, str, str | None] | None = field(default=None, repr=False)
    # IM_PRODUCTION: a Redis URL from REDIS_URL_PARAM must be rediss:// with AUTH.
    production: bool = False
    # IM_ALLOW_INSECURE_LOCAL: `make dev`'s relaxations (CORS `*`) are allowed.
    insecure_local: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        production = _bool(env, "IM_PRODUCTION")
        insecure_local = _bool(env, "IM_ALLOW_INSECURE_LOCAL")
        if insecure_local and (production or env.get("AWS_LAMBDA_FUNCTION_NAME")):
            # Lambda always sets AWS_LAMBDA_FUNCTION_NAME; make dev and the tests never do.
            raise ConfigError("IM_ALLOW_INSECURE_LOCAL is for make dev only, never on Lambda")
        if production:
            _check_production(env)
        redis_url = env.get("REDIS_URL") or None
        if redis_url:
            check_redis_url(redis_url, "REDIS_URL", production)
        jwt = JwtSettings(
            algorithms=_csv(env.get("IM_JWT_ALGORITHMS")) or ("HS256",),
            secret=env.get("IM_JWT_SECRET") or None,
            secret_param=env.get("IM_JWT_SECRET_PARAM") or None,
            jwks_url=env.get("IM_JWT_JWKS_URL") or None,
            issuer=env.get("IM_JWT_ISSUER") or None,
            audience=env.get("IM_JWT_AUDIENCE") or None,
            leeway_seconds=_int(env, "IM_JWT_LEEWAY_SECONDS", 30, 0, MAX_LEEWAY_SECONDS),
            user_claim=env.get("IM_JWT_USER_CLAIM") or "sub",
        )
        return cls(
            mongodb_uri=env.get("MONGODB_URI") or None,
            mongodb_uri_param=env.get("MONGODB_URI_PARAM") or None,
            mongodb_database=env.get("MONGODB_DATABASE") or "im",
            redis_url=redis_url,
            redis_url_param=env.get("REDIS_URL_PARAM") or None,
            redis_cluster=_bool(env, "IM_REDIS_CLUSTER"),
            jwt=jwt,
            # The local API Gateway announces its own management URL to the handlers.
            management_url=(
                env.get("IM_MANAGEMENT_URL") or env.get("LOCALGW_MANAGEMENT_URL") or ""
            ).rstrip("/")
            or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            cors_allow_origins=check_cors_origins(
                _csv(env.get("IM_CORS_ALLOW_ORIGINS")), insecure_local
            ),
            presence_ttl_seconds=_int(env, "IM_PRESENCE_TTL_SECONDS", 2 * 3600 + 300, 1),
            push_concurrency=_int(env, "IM_PUSH_CONCURRENCY", 16, 1),
            push_timeout_seconds=_int(env, "IM_PUSH_TIMEOUT_SECONDS", 3, 1),
            send_rate=RateLimit.parse(env.get("IM_SEND_RATE_LIMIT")),
            recall_window_seconds=_int(env, "IM_RECALL_WINDOW_SECONDS", 120),
            max_group_members=_int(env, "IM_GROUP_MAX_MEMBERS", 500, 2),
            push_before_ack_max=_int(env, "IM_PUSH_BEFORE_ACK_MAX", 50),
            aws_credentials=_aws_credentials(env),
            ack_route_response=_bool(env, "IM_ACK_ROUTE_RESPONSE"),
            max_connections_per_user=_int(env, "IM_MAX_CONNECTIONS_PER_USER", 20),
            max_fanout=_int(env, "IM_MAX_FANOUT", 2000),
            breaker_cooldown_seconds=_int(env, "IM_BREAKER_COOLDOWN_SECONDS", 5, 1),
            production=production,
            insecure_local=insecure_local,
        )


def _check_production(env: Mapping[str, str]) -> None:
    """Production keeps every secret out of the functions' plain configuration, which
    anyone allowed to read the function (lambda:GetFunctionConfiguration) can see."""
    if env.get("IM_JWT_SECRET"):
        raise ConfigError("with IM_PRODUCTION, the JWT secret comes from IM_JWT_SECRET_PARAM")
    if has_password(env.get("MONGODB_URI") or ""):
        raise ConfigError("with IM_PRODUCTION, a MongoDB URI with a password is MONGODB_URI_PARAM")
    if env.get("REDIS_URL") or not env.get("REDIS_URL_PARAM"):
        raise ConfigError(
            "with IM_PRODUCTION, the Redis URL (with its AUTH password) comes from "
            "REDIS_URL_PARAM, not REDIS_URL"
        )
