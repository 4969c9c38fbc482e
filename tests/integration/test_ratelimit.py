"""The per-user send limit against a real Redis: the shared contract, and its keys."""

from __future__ import annotations

import pytest
import redis

from chalicelib.config import ConfigError, RateLimit
from chalicelib.ratelimit import SendRateLimiter
from tests.clocks import ManualClock
from tests.contracts.ratelimit_contract import MakeLimiter, RateLimitContract, user


@pytest.fixture
def make_limiter(redis_client: redis.Redis) -> MakeLimiter:
    return lambda limit, clock: SendRateLimiter(redis_client, limit, clock)


class TestRedisRateLimit(RateLimitContract):
    pass


def test_state_is_one_key_per_user_that_expires(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    limiter = SendRateLimiter(redis_client, RateLimit(5, 10), clock)
    u = user()
    limiter.hit(u)
    assert redis_client.keys(f"im:rate:{{u:{u}}}*") == [f"im:rate:{{u:{u}}}"]
    assert 0 < redis_client.pttl(f"im:rate:{{u:{u}}}") <= 3000  # one unit's worth + 1 s


def test_zero_leaves_no_keys(redis_client: redis.Redis) -> None:
    limiter = SendRateLimiter(redis_client, RateLimit(0, 10))
    u = user()
    for _ in range(5):
        limiter.hit(u)
    assert redis_client.keys(f"im:rate:{{u:{u}}}*") == []


def test_an_unreachable_redis_lets_everything_through() -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from infra.services import free_port

    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    limiter = SendRateLimiter(dead, RateLimit(1, 60))
    u = user()
    for _ in range(3):
        limiter.hit(u)  # fails open: a store that works keeps accepting messages


@pytest.mark.parametrize("raw", ["x", "10/y", "/5"])
def test_bad_setting_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError):
        RateLimit.parse(raw)
