"""What any per-user rate limiter must do (Redis-backed, in-memory fake)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from chalicelib.chat.ports import RateLimiter
from chalicelib.config import RateLimit
from chalicelib.errors import RateLimited
from tests.clocks import ManualClock

MakeLimiter = Callable[[RateLimit, ManualClock], RateLimiter]


def user() -> int:
    return uuid.uuid4().int >> 66


class RateLimitContract:
    """Subclasses provide `make_limiter(limit, clock)`."""

    def test_a_burst_of_the_limit_then_one_per_interval(self, make_limiter: MakeLimiter) -> None:
        clock = ManualClock()
        limiter = make_limiter(RateLimit(4, 10), clock)  # 4 at once, then one per 2.5 s
        u = user()
        for _ in range(4):
            limiter.hit(u)
        with pytest.raises(RateLimited) as refused:
            limiter.hit(u)
        assert refused.value.status == 429 and refused.value.code == "rate_limited"
        assert refused.value.retry_after_ms == 2500
        clock.now += 2.5
        limiter.hit(u)  # one has come back
        with pytest.raises(RateLimited):
            limiter.hit(u)  # but only one

    def test_no_fixed_window_lets_a_burst_through_twice(self, make_limiter: MakeLimiter) -> None:
        clock = ManualClock(start=1_000_009.9)  # just before a 10 s boundary
        limiter = make_limiter(RateLimit(10, 10), clock)
        u = user()
        for _ in range(10):
            limiter.hit(u)
        clock.now += 0.2  # across the boundary a fixed window would reset at
        with pytest.raises(RateLimited):
            limiter.hit(u)

    def test_limits_are_per_user(self, make_limiter: MakeLimiter) -> None:
        limiter = make_limiter(RateLimit(1, 60), ManualClock())
        a, b = user(), user()
        limiter.hit(a)
        limiter.hit(b)
        with pytest.raises(RateLimited):
            limiter.hit(a)

    def test_costs_and_charges(self, make_limiter: MakeLimiter) -> None:
        clock = ManualClock()
        limiter = make_limiter(RateLimit(10, 10), clock)
        u = user()
        limiter.hit(u, cost=6)
        with pytest.raises(RateLimited) as refused:
            limiter.hit(u, cost=5)
        assert refused.value.retry_after_ms == 1000
        limiter.charge(u, 20)  # already served: never refused, but the debt counts
        clock.now += 15
        with pytest.raises(RateLimited):
            limiter.hit(u)
        clock.now += 2
        limiter.hit(u)

    def test_zero_disables_the_limit(self, make_limiter: MakeLimiter) -> None:
        limiter = make_limiter(RateLimit(0, 10), ManualClock())
        u = user()
        for _ in range(50):
            limiter.hit(u)
