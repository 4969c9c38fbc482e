"""The in-memory limiter passes the rate-limit contract."""

from __future__ import annotations

import pytest

from tests.contracts.ratelimit_contract import MakeLimiter, RateLimitContract
from tests.fakes.ratelimit import FakeRateLimiter


@pytest.fixture
def make_limiter() -> MakeLimiter:
    return FakeRateLimiter


class TestFakeRateLimit(RateLimitContract):
    pass
