"""Container scheduling of one function, with fake containers and an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from infra.localgw.pool import FunctionPool, PoolClosedError


class FakeContainer:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.idle_since = 0.0
        self.alive = True
        self.killed = False

    def kill(self) -> None:
        self.alive = False
        self.killed = True


class Factory:
    """Starts fake containers; `gate` (when set) holds every start until released."""

    def __init__(self) -> None:
        self.started: list[FakeContainer] = []
        self.for_invocation: list[bool] = []
        self.gate: asyncio.Event | None = None
        self.fail_next = False

    async def __call__(self, for_invocation: bool) -> FakeContainer:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("init failed")
        container = FakeContainer(100 + len(self.started))
        self.started.append(container)
        self.for_invocation.append(for_invocation)
        return container


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pool(factory: Factory, clock: Clock | None = None, **kwargs: Any) -> FunctionPool[Any]:
    kwargs.setdefault("max_size", 2)
    kwargs.setdefault("idle_timeout", 10.0)
    return FunctionPool(factory, clock=clock or Clock(), **kwargs)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 5))


def test_a_released_container_is_reused_warm() -> None:
    async def scenario() -> None:
        factory = Factory()
        pool = _pool(factory)
        first = await pool.acquire()
        pool.release(first)
        assert await pool.acquire() is first
        assert factory.for_invocation == [True]  # one cold start, for an invocation

    run(scenario)


def test_a_busy_container_makes_the_next_invocation_start_another() -> None:
    async def scenario() -> None:
        pool = _pool(Factory())
        first, second = await pool.acquire(), await pool.acquire()
        assert first is not second
        assert pool.snapshot()["busy"] == [first.pid, second.pid]

    run(scenario)


def test_at_the_cap_invocations_wait_for_the_first_free_container() -> None:
    async def scenario() -> None:
        factory = Factory()
        pool = _pool(factory, max_size=1)
        first = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        assert not waiting.done() and pool.snapshot()["waiting"] == 1
        pool.release(first)
        assert await waiting is first
        assert len(factory.started) == 1

    run(scenario)


def test_a_discarded_container_is_killed_and_a_waiter_gets_a_fresh_one() -> None:
    async def scenario() -> None:
        factory = Factory()
        pool = _pool(factory, max_size=1)
        stuck = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        pool.discard(stuck)
        fresh = await waiting
        assert stuck.killed and fresh is not stuck
        assert factory.for_invocation == [True, True]

    run(scenario)


def test_idle_containers_retire_after_the_idle_timeout() -> None:
    async def scenario() -> None:
        clock = Clock()
        pool = _pool(Factory(), clock)
        container = await pool.acquire()
        pool.release(container)
        clock.now = 9.9
        assert pool.retire_idle() == 0
        clock.now = 10.0
        assert pool.retire_idle() == 1
        assert container.killed and pool.size == 0

    run(scenario)


def test_prewarmed_containers_are_kept_and_replaced() -> None:
    async def scenario() -> None:
        clock = Clock()
        factory = Factory()
        pool = _pool(factory, clock, keep_warm=1)
        await pool.prewarm()
        assert factory.for_invocation == [False]
        (warm,) = factory.started
        clock.now = 100.0
        assert pool.retire_idle() == 0  # kept, like provisioned concurrency
        container = await pool.acquire()
        assert container is warm
        pool.discard(container)
        await asyncio.sleep(0)  # the replacement starts in the background
        await asyncio.sleep(0)
        assert pool.snapshot()["idle"] == [factory.started[1].pid]

    run(scenario)


def test_a_dead_idle_container_is_not_handed_out() -> None:
    async def scenario() -> None:
        pool = _pool(Factory())
        container = await pool.acquire()
        pool.release(container)
        container.alive = False
        assert await pool.acquire() is not container

    run(scenario)


def test_a_failed_start_frees_its_slot() -> None:
    async def scenario() -> None:
        factory = Factory()
        factory.fail_next = True
        pool = _pool(factory, max_size=1)
        with pytest.raises(RuntimeError, match="init failed"):
            await pool.acquire()
        assert pool.size == 0
        assert (await pool.acquire()).pid == 100

    run(scenario)


def test_a_caller_giving_up_while_a_container_starts_frees_the_slot() -> None:
    async def scenario() -> None:
        factory = Factory()
        factory.gate = asyncio.Event()
        pool = _pool(factory, max_size=1)
        starting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        assert pool.snapshot()["starting"] == 1
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        assert pool.size == 0

    run(scenario)


def test_nothing_starts_once_stopping() -> None:
    async def scenario() -> None:
        pool = _pool(Factory())
        pool.stop_starting()
        with pytest.raises(PoolClosedError):
            await pool.acquire()

    run(scenario)
