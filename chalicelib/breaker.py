"""A circuit breaker per container: once the store is known to be down, fail at once.

Without it every request waits out the driver's server-selection timeout (seconds) to
learn what the previous one already learnt -- slow answers for clients and billed
Lambda time for nothing. Closed: calls go through. A failure that means "cannot reach
the server" opens it: calls fail immediately for `cooldown` seconds. Then it is
half-open: one call goes through as a probe; success closes it, failure opens it
again. Only reachability failures count; a duplicate key or a bad query does not.
"""

from __future__ import annotations

import threading

from chalicelib.clock import EpochClock, epoch_seconds


class CircuitBreaker:
    def __init__(self, cooldown_seconds: float = 5.0, clock: EpochClock = epoch_seconds) -> None:
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed
        self._probing = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open_until is not None

    def allow(self) -> bool:
        """Whether a call may go to the server now (and, when half-open, claim the probe)."""
        with self._lock:
            if self._open_until is None:
                return True
            if self._clock() < self._open_until or self._probing:
                return False
            self._probing = True  # half-open: this caller probes, the others wait
            return True

    def succeeded(self) -> None:
        with self._lock:
            self._open_until = None
            self._probing = False

    def failed(self) -> None:
        with self._lock:
            self._open_until = self._clock() + self._cooldown
            self._probing = False
