"""Settings the app refuses: each unsafe value is a ConfigError that names the variable
and the rule, and never shows the value (it may be a secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.auth import JwtVerifier
from chalicelib.config import ConfigError, JwtSettings, RateLimit, Settings
from chalicelib.config_rules import check_hmac_secret, check_redis_url
from infra.dev.tokens import local_secret

JWKS = {
    "IM_JWT_ALGORITHMS": "RS256",
    "IM_JWT_JWKS_URL": "https://idp.example.com/.well-known/jwks.json",
    "IM_JWT_ISSUER": "https://idp.example.com/",
    "IM_JWT_AUDIENCE": "serverless-im",
}
PRODUCTION = {
    "IM_PRODUCTION": "true",
    "IM_JWT_SECRET_PARAM": "/serverless-im/prod/jwt-secret",
    "MONGODB_URI_PARAM": "/serverless-im/prod/mongodb-uri",
    "REDIS_URL_PARAM": "/serverless-im/prod/redis-url",
}


def refused(env: dict[str, str], *words: str) -> str:
    """The message of the ConfigError `env` raises, checked to contain `words`."""
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)
    message = str(error.value)
    for word in words:
        assert word in message
    return message


# --- JWT -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithms", "shortest"),
    [("HS256", 32), ("HS384", 48), ("HS512", 64), ("HS256,HS512", 64)],
)
def test_hmac_secrets_are_at_least_the_hash_size(algorithms: str, shortest: int) -> None:
    env = {"IM_JWT_ALGORITHMS": algorithms}
    Settings.from_env({**env, "IM_JWT_SECRET": "k" * shortest})
    short = "s3cr3t-" + "k" * (shortest - 8)
    message = refused({**env, "IM_JWT_SECRET": short}, "IM_JWT_SECRET", f"{shortest} bytes")
    assert short not in message and "s3cr3t" not in message


def test_secret_length_is_counted_in_bytes_as_signing_uses_them() -> None:
    check_hmac_secret("é" * 16, ["HS256"], "IM_JWT_SECRET")  # 32 bytes in UTF-8
    with pytest.raises(ConfigError):
        check_hmac_secret("é" * 15 + "e", ["HS256"], "IM_JWT_SECRET")


def test_a_stored_secret_is_named_by_where_it_came_from() -> None:
    with pytest.raises(ConfigError, match="the secret in IM_JWT_SECRET_PARAM is too short"):
        check_hmac_secret("short", ["HS256"], "the secret in IM_JWT_SECRET_PARAM")


def test_a_verifier_refuses_a_short_secret_wherever_it_came_from() -> None:
    with pytest.raises(ConfigError, match="too short for HS256"):
        JwtVerifier(JwtSettings(), secret="read-from-somewhere")


def test_the_local_secret_make_dev_generates_is_long_enough_for_every_hmac(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IM_JWT_SECRET", raising=False)
    check_hmac_secret(local_secret(tmp_path), ["HS256", "HS384", "HS512"], "the local secret")


@pytest.mark.parametrize("leeway", ["-1", "301", "999999999"])
def test_leeway_is_at_most_five_minutes(leeway: str) -> None:
    refused({"IM_JWT_LEEWAY_SECONDS": leeway}, "IM_JWT_LEEWAY_SECONDS")


@pytest.mark.parametrize("leeway", ["0", "300"])
def test_leeway_bounds_are_allowed(leeway: str) -> None:
    assert Settings.from_env({"IM_JWT_LEEWAY_SECONDS": leeway}).jwt.leeway_seconds == int(leeway)


def test_jwks_with_https_issuer_and_audience_is_accepted() -> None:
    settings = Settings.from_env(JWKS)
    assert settings.jwt.jwks_url == JWKS["IM_JWT_JWKS_URL"]


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com/jwks.json",
        "ftp://idp.example.com/jwks.json",
        "https:///jwks.json",
        "idp.example.com/jwks.json",
        "http://10.0.0.5/jwks.json",
    ],
)
def test_jwks_must_be_https(url: str) -> None:
    refused({**JWKS, "IM_JWT_JWKS_URL": url}, "IM_JWT_JWKS_URL", "https://")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9/jwks"]
)
def test_jwks_over_http_is_allowed_on_loopback_for_tests(url: str) -> None:
    Settings.from_env({**JWKS, "IM_JWT_JWKS_URL": url})


@pytest.mark.parametrize("missing", ["IM_JWT_AUDIENCE", "IM_JWT_ISSUER"])
def test_jwks_needs_an_audience_and_an_issuer(missing: str) -> None:
    refused({k: v for k, v in JWKS.items() if k != missing}, missing)


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="IM_JWT_LEEWAY_SECONDS"):
        JwtSettings(leeway_seconds=999_999_999)
    with pytest.raises(ConfigError, match="IM_JWT_SECRET"):
        JwtSettings(secret="short")
    with pytest.raises(ConfigError, match="IM_SEND_RATE_LIMIT"):
        RateLimit(-5, 10)
    with pytest.raises(ConfigError, match="IM_SEND_RATE_LIMIT"):
        RateLimit(100, 0)


# --- rate limit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["-5/10", "100/0", "100", "100/", "/10", "1000001/1", "1/86401", "1.5/10", "a/b"]
)
def test_a_rate_limit_that_would_be_off_or_divide_by_zero_is_refused(raw: str) -> None:
    refused({"IM_SEND_RATE_LIMIT": raw}, "IM_SEND_RATE_LIMIT")


@pytest.mark.parametrize(
    ("raw", "count", "window"),
    [("100/10", 100, 10), (" 3 / 60 ", 3, 60), ("0/10", 0, 10), ("1000000/1", 1_000_000, 1)],
)
def test_rate_limits_in_bounds_are_read(raw: str, count: int, window: int) -> None:
    assert Settings.from_env({"IM_SEND_RATE_LIMIT": raw}).send_rate == RateLimit(count, window)


# --- CORS and where the app runs -------------------------------------------------------


def test_any_origin_is_for_make_dev_only() -> None:
    refused({"IM_CORS_ALLOW_ORIGINS": "*"}, "IM_CORS_ALLOW_ORIGINS", "IM_ALLOW_INSECURE_LOCAL")
    refused({"IM_CORS_ALLOW_ORIGINS": "https://a.example, *"}, "IM_CORS_ALLOW_ORIGINS")
    local = {"IM_CORS_ALLOW_ORIGINS": "*", "IM_ALLOW_INSECURE_LOCAL": "true"}
    assert Settings.from_env(local).cors_allow_origins == ("*",)


@pytest.mark.parametrize(
    "origin",
    [
        "https://chat.example.com/",
        "https://chat.example.com/app",
        "https://Chat.Example.com",
        "chat.example.com",
        "null",
        "https://user@chat.example.com",
        "https://[x",
    ],
)
def test_an_origin_that_could_never_match_is_refused(origin: str) -> None:
    refused({"IM_CORS_ALLOW_ORIGINS": origin}, "IM_CORS_ALLOW_ORIGINS", "scheme://host[:port]")


def test_listed_origins_are_kept_in_order() -> None:
    env = {"IM_CORS_ALLOW_ORIGINS": "https://chat.example.com, http://localhost:5173"}
    origins = Settings.from_env(env).cors_allow_origins
    assert origins == ("https://chat.example.com", "http://localhost:5173")


def test_insecure_local_is_never_allowed_on_lambda_or_with_production() -> None:
    local = {"IM_ALLOW_INSECURE_LOCAL": "true"}
    refused({**local, "AWS_LAMBDA_FUNCTION_NAME": "serverless-im-prod"}, "IM_ALLOW_INSECURE_LOCAL")
    refused({**PRODUCTION, **local}, "IM_ALLOW_INSECURE_LOCAL")
    assert Settings.from_env(local).insecure_local


# --- production ------------------------------------------------------------------------


def test_production_reads_every_secret_from_a_parameter() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.production and settings.redis_url_param == PRODUCTION["REDIS_URL_PARAM"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"IM_JWT_SECRET": "k" * 64}, "IM_JWT_SECRET_PARAM"),
        ({"MONGODB_URI": "mongodb+srv://im:pw-123@cluster0.example.net/"}, "MONGODB_URI_PARAM"),
        ({"REDIS_URL": "rediss://:token-123@cache.example:6379/0"}, "REDIS_URL_PARAM"),
        ({"REDIS_URL_PARAM": ""}, "REDIS_URL_PARAM"),
    ],
)
def test_production_refuses_secrets_in_plain_settings(extra: dict[str, str], named: str) -> None:
    message = refused({**PRODUCTION, **extra}, named, "IM_PRODUCTION")
    assert "pw-123" not in message and "token-123" not in message and "k" * 64 not in message


def test_production_mongodb_uri_without_a_password_is_fine() -> None:
    env = {**PRODUCTION, "MONGODB_URI": "mongodb+srv://cluster0.example.net/?authMechanism=X"}
    Settings.from_env(env)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("redis://:token-123@cache.example:6379/0", "TLS (rediss://)"),
        ("rediss://cache.example:6379/0", "AUTH"),
        ("rediss://im-app@cache.example:6379/0", "AUTH"),
        ("unix:///tmp/redis.sock", "TLS (rediss://)"),
    ],
)
def test_production_redis_needs_tls_and_auth(url: str, rule: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_redis_url(url, "the URL in REDIS_URL_PARAM", production=True)
    assert rule in str(error.value) and "REDIS_URL_PARAM" in str(error.value)
    assert "token-123" not in str(error.value) and error.value.__cause__ is None


@pytest.mark.parametrize(
    "url", ["rediss://:token-123@cache.example:6379/0", "rediss://im-app:token-123@c.example:6379"]
)
def test_production_redis_with_an_auth_token_or_a_user(url: str) -> None:
    check_redis_url(url, "the URL in REDIS_URL_PARAM", production=True)


def test_outside_production_any_redis_url_will_do() -> None:
    check_redis_url("redis://127.0.0.1:6379/0", "REDIS_URL", production=False)
    assert Settings.from_env({"REDIS_URL": "redis://redis:6379/0"}).redis_url


@pytest.mark.parametrize("url", ["http://cache.example:6379", "cache.example:6379", "rediss://[x"])
def test_what_is_not_a_redis_url_is_refused_without_showing_it(url: str) -> None:
    message = refused({"REDIS_URL": url}, "REDIS_URL", "redis://")
    assert "cache.example" not in message
