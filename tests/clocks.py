"""Clocks the tests move by hand, instead of sleeping."""

from __future__ import annotations


class ManualClock:
    """Epoch seconds that change only when a test sets or advances `now`."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
