"""The Redis user docs/deploy.md tells operators to create is enough for the app and no
more: the presence and rate-limit contracts pass over a connection logged in as that
user (built by deps.py, as in production), and what the app never does is refused."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from chalicelib.config import Settings
from chalicelib.deps import Services
from chalicelib.presence import Presence
from chalicelib.ratelimit import RedisRateLimiter
from infra.deploy.redis_acl import ACCESS_STRING, CLUSTER_ACCESS_STRING
from infra.services import Service
from tests.clocks import ManualClock
from tests.contracts.presence_contract import TTL_SECONDS, PresenceContract
from tests.contracts.ratelimit_contract import MakeLimiter, RateLimitContract

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def _user_url(redis_service: Service, admin: redis.Redis, rules: str) -> Iterator[str]:
    name, password = f"im-app-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    admin.execute_command("ACL", "SETUSER", name, "reset", f">{password}", *rules.split())
    try:
        host_and_db = redis_service.url.removeprefix("redis://")
        yield f"redis://{name}:{password}@{host_and_db}"
    finally:
        admin.execute_command("ACL", "DELUSER", name)


@pytest.fixture
def app_user_url(redis_service: Service, redis_client: redis.Redis) -> Iterator[str]:
    yield from _user_url(redis_service, redis_client, ACCESS_STRING)


@pytest.fixture
def app_redis(app_user_url: str) -> Iterator[Any]:
    """The client the functions would build for this URL (chalicelib/deps.py)."""
    client = Services(Settings(redis_url=app_user_url)).redis
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def presence(app_redis: Any, clock: ManualClock) -> Presence:
    return Presence(app_redis, ttl_seconds=TTL_SECONDS, clock=clock)


@pytest.fixture
def make_limiter(app_redis: Any) -> MakeLimiter:
    return lambda limit, clock: RedisRateLimiter(app_redis, limit, clock)


class TestPresenceAsTheAppUser(PresenceContract):
    pass


class TestRateLimitAsTheAppUser(RateLimitContract):
    pass


@pytest.mark.parametrize(
    "command",
    [
        ("FLUSHALL",),
        ("KEYS", "*"),
        ("CONFIG", "GET", "*"),
        ("ACL", "LIST"),
        ("SET", "other-app:key", "x"),
        ("GET", "other-app:key"),
        ("SCRIPT", "FLUSH"),
        ("CLIENT", "LIST"),
        ("INFO",),
        ("CLUSTER", "SLOTS"),
    ],
)
def test_what_the_app_never_does_is_refused(app_redis: Any, command: tuple[str, ...]) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        app_redis.execute_command(*command)


def test_the_cluster_variant_may_read_the_slot_map(
    redis_service: Service, redis_client: redis.Redis
) -> None:
    for url in _user_url(redis_service, redis_client, CLUSTER_ACCESS_STRING):
        client = redis.Redis.from_url(url)
        try:
            # Allowed: this server answers that it is no cluster, not that it is forbidden
            with pytest.raises(redis.exceptions.ResponseError, match="cluster support disabled"):
                client.execute_command("CLUSTER", "SLOTS")
        finally:
            client.close()


def test_the_deploy_guide_gives_exactly_these_access_strings() -> None:
    guide = DEPLOY_DOC.read_text()
    assert f'"{ACCESS_STRING}"' in guide and f'"{CLUSTER_ACCESS_STRING}"' in guide
