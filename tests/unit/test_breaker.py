"""The circuit breaker's states, moved by a manual clock."""

from __future__ import annotations

from chalicelib.breaker import CircuitBreaker
from tests.clocks import ManualClock


def test_closed_until_a_failure_then_open_for_the_cooldown() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(cooldown_seconds=5, clock=clock)
    states = [breaker.allow(), breaker.is_open]
    breaker.failed()
    states += [breaker.allow(), breaker.is_open]
    assert states == [True, False, False, True]
    clock.now += 4.9
    assert not breaker.allow()


def test_after_the_cooldown_one_probe_goes_through() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(cooldown_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else still fails fast while it runs
    breaker.succeeded()
    assert [breaker.is_open, breaker.allow(), breaker.allow()] == [False, True, True]


def test_a_failed_probe_opens_it_again() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(cooldown_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow()
    breaker.failed()
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()
