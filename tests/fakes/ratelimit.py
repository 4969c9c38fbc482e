"""An in-memory per-user token bucket with RedisRateLimiter's semantics (GCRA), and a
switch that makes it behave as when Redis is down (it lets everything through)."""

from __future__ import annotations

import threading

from chalicelib.clock import EpochClock, epoch_seconds
from chalicelib.config import RateLimit
from chalicelib.ratelimit import refusal


class FakeRateLimiter:
    def __init__(self, limit: RateLimit, clock: EpochClock = epoch_seconds) -> None:
        self._limit, self._clock = limit, clock
        self._tat: dict[int, float] = {}  # user -> theoretical arrival time, ms
        self._lock = threading.Lock()
        self.down = False

    def hit(self, user_id: int, cost: int = 1) -> None:
        self._run(user_id, cost, force=False)

    def charge(self, user_id: int, cost: int) -> None:
        self._run(user_id, cost, force=True)

    def _run(self, user_id: int, cost: int, force: bool) -> None:
        if self._limit.count <= 0 or cost <= 0 or self.down:
            return
        now = int(self._clock() * 1000)
        window = self._limit.window_seconds * 1000
        with self._lock:
            tat = max(self._tat.get(user_id, now), now)
            new_tat = tat + window / self._limit.count * cost
            over = new_tat - now - window
            if over > 0 and not force:
                raise refusal(self._limit, -int(-over // 1))
            self._tat[user_id] = new_tat
