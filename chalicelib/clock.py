"""Time as an injectable dependency, so TTLs and timestamps are testable without sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
EpochClock = Callable[[], float]


def utc_now_ms() -> datetime:
    """Server time, UTC, truncated to the millisecond BSON dates can hold."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def epoch_seconds() -> float:
    return time.time()


def epoch_datetime(epoch: float) -> datetime:
    """Epoch seconds as a UTC datetime (a token's `exp`, for the wire)."""
    return datetime.fromtimestamp(epoch, UTC)
