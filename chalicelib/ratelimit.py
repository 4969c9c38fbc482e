"""One per-user rate limit for the WebSocket and REST APIs: a token bucket (GCRA) in
Redis, one round trip per decision.

`RateLimit(count, window)` lets a user spend `count` units at once and then `count`
per `window` seconds, evenly -- no fixed windows, so no doubling across a window
boundary. A send or a REST call costs 1; a REST reply is charged more for its size
afterwards (`charge`), so big pages cannot be pulled at the rate of small ones.
Refusals say when to retry (`RateLimited.retry_after_ms`).

If Redis is unreachable the limiter lets everything through, with a log line and a
`RateLimiterUnavailable` metric: a store that works keeps accepting messages. A circuit
breaker then skips Redis for a few seconds, so nobody waits for its timeouts.

The state is one key per user, `im:rate:{u:<id>}` (its "theoretical arrival time" in
ms), so the script touches one key and runs on any Redis Cluster.
"""

from __future__ import annotations

import math

from redis.exceptions import RedisError

from chalicelib.breaker import CircuitBreaker
from chalicelib.clock import EpochClock, epoch_seconds
from chalicelib.config import RateLimit
from chalicelib.errors import RateLimited
from chalicelib.observability import count, logger
from chalicelib.presence import RedisLike

# KEYS[1]: the user's key. ARGV: now (ms), interval (ms per unit), window (ms), cost,
# force (1: charge even past the limit -- for what was already served).
_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * tonumber(ARGV[4])
local over = new_tat - now - window
if over > 0 and ARGV[5] ~= '1' then
  return {0, math.ceil(over)}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0}
"""


def refusal(limit: RateLimit, retry_after_ms: int) -> RateLimited:
    err = RateLimited(
        f"more than {limit.count} requests in {limit.window_seconds}s; "
        f"retry in {math.ceil(retry_after_ms / 1000)}s"
    )
    err.retry_after_ms = retry_after_ms
    return err


class RedisRateLimiter:
    def __init__(
        self,
        redis: RedisLike,
        limit: RateLimit,
        clock: EpochClock = epoch_seconds,
        breaker: CircuitBreaker | None = None,
    ):
        self._limit = limit
        self._clock = clock
        self._script = redis.register_script(_GCRA)
        self._breaker = breaker or CircuitBreaker(clock=clock)

    def hit(self, user_id: int, cost: int = 1) -> None:
        """Spend `cost`; raise RateLimited (with retry_after_ms) when over the limit."""
        self._run(user_id, cost, force=False)

    def charge(self, user_id: int, cost: int) -> None:
        """Spend `cost` for something already served: never refuses, slows what follows."""
        self._run(user_id, cost, force=True)

    def _run(self, user_id: int, cost: int, force: bool) -> None:
        limit = self._limit
        if limit.count <= 0 or cost <= 0:
            return
        window_ms = limit.window_seconds * 1000
        if not self._breaker.allow():
            count("RateLimiterUnavailable")  # known down: pass without waiting for it
            return
        try:
            allowed, retry_ms = self._script(
                keys=[f"im:rate:{{u:{user_id}}}"],
                args=[
                    int(self._clock() * 1000),
                    window_ms / limit.count,
                    window_ms,
                    cost,
                    1 if force else 0,
                ],
            )
        except RedisError:
            # Fail open: refusing every message because the limiter is down would turn
            # a Redis outage into a chat outage.
            self._breaker.failed()
            logger.warning("rate limiter unavailable; allowing")
            count("RateLimiterUnavailable")
            return
        self._breaker.succeeded()
        if not allowed:
            raise refusal(limit, int(retry_ms))


# The name the rest of the code base and the v1 notes know it by.
SendRateLimiter = RedisRateLimiter
