"""Reconnect delays: exponential growth, capped, with jitter.

Jitter spreads the reconnects of many clients that lost the same server at the same
moment; the delay is drawn from the upper half of the exponential step ("equal
jitter"), so a retry never comes instantly and never later than the cap.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        base: float = 1.0,
        cap: float = 30.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the step up to the cap."""
        step = min(self.cap, self.base * 2.0 ** min(self.attempt, 62))
        self.attempt += 1
        return step / 2 + self._rng() * step / 2

    def reset(self) -> None:
        """After a connection that worked: the next drop starts from `base` again."""
        self.attempt = 0
