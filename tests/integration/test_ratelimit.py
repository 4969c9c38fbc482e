"""The per-user send limit against a real Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from chalicelib.config import ConfigError, RateLimit
from chalicelib.errors import RateLimited
from chalicelib.ratelimit import SendRateLimiter
from tests.clocks import ManualClock


def user() -> int:
    return uuid.uuid4().int >> 66


def test_allows_the_limit_then_refuses_until_the_next_window(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    limiter = SendRateLimiter(redis_client, RateLimit(3, 10), clock)
    u = user()
    for _ in range(3):
        limiter.hit(u)
    with pytest.raises(RateLimited) as refused:
        limiter.hit(u)
    assert refused.value.code == "rate_limited" and refused.value.status == 429

    other = user()
    limiter.hit(other)  # limits are per user

    clock.now += 10
    limiter.hit(u)  # a new window


def test_window_keys_expire(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    limiter = SendRateLimiter(redis_client, RateLimit(5, 10), clock)
    u = user()
    limiter.hit(u)
    key = f"im:rate:{{u:{u}}}:{int(clock.now) // 10}"
    assert redis_client.get(key) == "1"
    assert 0 < redis_client.ttl(key) <= 11


def test_zero_disables_the_limit(redis_client: redis.Redis) -> None:
    limiter = SendRateLimiter(redis_client, RateLimit(0, 10))
    u = user()
    for _ in range(50):
        limiter.hit(u)
    assert redis_client.keys(f"im:rate:{{u:{u}}}:*") == []


@pytest.mark.parametrize("raw", ["x", "10/y", "/5"])
def test_bad_setting_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError):
        RateLimit.parse(raw)
