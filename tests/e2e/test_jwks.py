"""A stack of its own verifying RS256 tokens against a JWKS endpoint on loopback: while
the endpoint fails, handshakes and REST calls are refused with 503 (retry later), not
401 (sign in again); once it answers, good tokens pass and bad ones are 401."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from infra.services import Service
from tests.e2e.conftest import running_stack
from tests.e2e.support import Stack, new_user
from tests.jwks import AUDIENCE, ISSUER, JwksEndpoint, SigningKey, jwks_endpoint

pytestmark = pytest.mark.slow

KEY = SigningKey("e2e-key")


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksEndpoint]:
    with jwks_endpoint(KEY) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def jwks_stack(
    tmp_path_factory: pytest.TempPathFactory,
    mongo_service: Service,
    redis_service: Service,
    jwks: JwksEndpoint,
) -> Iterator[Stack]:
    env = {
        "MONGODB_URI": mongo_service.url,
        "MONGODB_DATABASE": f"jwks_{uuid.uuid4().hex[:8]}",
        "REDIS_URL": redis_service.url,
        "IM_JWT_ALGORITHMS": "RS256",
        "IM_JWT_JWKS_URL": jwks.url,
        "IM_JWT_ISSUER": ISSUER,
        "IM_JWT_AUDIENCE": AUDIENCE,
    }
    with running_stack(tmp_path_factory.mktemp("jwks"), env) as stack:
        yield stack


def handshake_status(stack: Stack, token: str) -> int:
    try:
        with connect(f"{stack.ws_url}?token={token}", open_timeout=10):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_unverifiable_is_503_and_invalid_is_401(jwks_stack: Stack, jwks: JwksEndpoint) -> None:
    user = new_user()
    good = KEY.token(user)
    # While the key set cannot be had, nobody is told their token is bad
    for status, body in ((500, b"oops"), (200, b"<html>maintenance</html>")):
        jwks.status, jwks.body = status, body
        assert handshake_status(jwks_stack, good) == 503
        refused = jwks_stack.post("/api/v1/messages/unread", {}, good)
        assert refused.status_code == 503 and "error" in refused.json()
    # Once it answers, the same token works, and a token of an unknown key does not
    jwks.status, jwks.body = 200, None
    assert handshake_status(jwks_stack, good) == 101
    assert jwks_stack.post("/api/v1/messages/unread", {}, good).status_code == 200
    stranger = SigningKey("not-published").token(user)
    assert handshake_status(jwks_stack, stranger) == 401
    assert jwks_stack.post("/api/v1/messages/unread", {}, stranger).status_code == 401
