"""Per-user send rate limit: a fixed window counter in Redis (one round trip)."""

from __future__ import annotations

from redis.exceptions import RedisError

from chalicelib.clock import EpochClock, epoch_seconds
from chalicelib.config import RateLimit
from chalicelib.errors import RateLimited, Unavailable
from chalicelib.presence import RedisLike


class SendRateLimiter:
    def __init__(self, redis: RedisLike, limit: RateLimit, clock: EpochClock = epoch_seconds):
        self._redis = redis
        self._limit = limit
        self._clock = clock

    def hit(self, user_id: int) -> None:
        """Count one send; raise RateLimited when the user is over the limit."""
        if self._limit.count <= 0:
            return
        window = int(self._clock()) // self._limit.window_seconds
        key = f"im:rate:{{u:{user_id}}}:{window}"
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, self._limit.window_seconds + 1, nx=True)
            count = pipe.execute()[0]
        except RedisError as exc:
            raise Unavailable("rate limiter unavailable") from exc
        if not isinstance(count, int) or count > self._limit.count:
            raise RateLimited(
                f"more than {self._limit.count} messages in {self._limit.window_seconds}s; "
                "slow down"
            )
