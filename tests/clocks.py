"""Clocks the tests move by hand, instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """Epoch seconds that change only when a test sets or advances `now`."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class ManualTime:
    """A UTC datetime clock (millisecond steps) that moves only when a test moves it --
    or by `step` on every reading, when one is given."""

    def __init__(self, step_ms: int = 0) -> None:
        self.now = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
        self.step = timedelta(milliseconds=step_ms)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
