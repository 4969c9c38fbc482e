"""Tokens verified against a real JWKS endpoint on loopback: a bad token is
`Unauthorized` (401), an endpoint that cannot be reached or answers nonsense is
`Unavailable` (503) -- the token may be fine, it cannot be checked now."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chalicelib.auth import JwtVerifier
from chalicelib.config import JwtSettings
from chalicelib.errors import Unauthorized, Unavailable
from infra.services import free_port
from tests.jwks import AUDIENCE, ISSUER, JwksEndpoint, SigningKey, jwks_endpoint

KEY = SigningKey("key-1")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[JwksEndpoint]:
    with jwks_endpoint(KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def healthy(endpoint: JwksEndpoint) -> None:
    endpoint.status, endpoint.body, endpoint.delay = 200, None, 0.0


def verifier(url: str, timeout: int = 3) -> JwtVerifier:
    settings = JwtSettings(
        algorithms=("RS256",),
        jwks_url=url,
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_timeout_seconds=timeout,
    )
    return JwtVerifier.from_settings(settings, secret=None)


def test_a_token_signed_by_a_published_key_is_accepted(endpoint: JwksEndpoint) -> None:
    assert verifier(endpoint.url).user_of(KEY.token(42)) == 42


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: SigningKey("key-1").token(42), id="forged-same-kid"),
        pytest.param(lambda: SigningKey("unknown").token(42), id="unknown-kid"),
        pytest.param(lambda: KEY.token(42, aud="another-app"), id="other-audience"),
        pytest.param(lambda: KEY.token(42, iss="https://evil.test/"), id="other-issuer"),
        pytest.param(lambda: KEY.token(42, ttl=-3600), id="expired"),
        pytest.param(lambda: "not.a.token", id="garbage"),
    ],
)
def test_a_bad_token_is_unauthorized_while_the_keys_are_reachable(
    endpoint: JwksEndpoint, token: object
) -> None:
    with pytest.raises(Unauthorized):
        verifier(endpoint.url).user_of(token())  # type: ignore[operator]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(500, b'{"error": "boom"}', id="http-500"),
        pytest.param(503, b"", id="http-503"),
        pytest.param(200, b"<html>maintenance</html>", id="not-json"),
        pytest.param(200, b"[1, 2]", id="not-an-object"),
        pytest.param(200, b'{"keys": []}', id="no-keys"),
        pytest.param(200, b'{"keys": [{"kty": "nope"}]}', id="no-usable-key"),
    ],
)
def test_a_failing_endpoint_is_unavailable_not_unauthorized(
    endpoint: JwksEndpoint, status: int, body: bytes
) -> None:
    endpoint.status, endpoint.body = status, body
    with pytest.raises(Unavailable) as refused:
        verifier(endpoint.url).user_of(KEY.token(42))
    assert refused.value.status == 503


def test_an_endpoint_that_is_down_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"  # nothing listens
    with pytest.raises(Unavailable):
        verifier(url).user_of(KEY.token(42))


def test_an_endpoint_that_does_not_answer_is_unavailable_within_the_timeout(
    endpoint: JwksEndpoint,
) -> None:
    endpoint.delay = 3
    started = time.monotonic()
    with pytest.raises(Unavailable):
        verifier(endpoint.url, timeout=1).user_of(KEY.token(42))
    assert time.monotonic() - started < 2.5


def test_a_fetched_key_set_outlives_an_outage(endpoint: JwksEndpoint) -> None:
    # Given a verifier that has fetched the keys once
    v = verifier(endpoint.url)
    assert v.user_of(KEY.token(1)) == 1
    requests = endpoint.requests
    # When the endpoint starts failing
    endpoint.status, endpoint.body = 500, b""
    # Then tokens are still verified from the cached set, without asking again
    assert v.user_of(KEY.token(2)) == 2
    assert endpoint.requests == requests
