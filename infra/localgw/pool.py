"""The containers of one Lambda function: warm reuse, cold starts, a cap, idle retirement.

As Lambda schedules them: an invocation takes a free (warm) container; with none free
it starts a new one (a cold start) unless the function is at its concurrency cap, and
then it waits for the first container to come free. One invocation at a time per
container. Containers idle for `idle_timeout` are retired, down to `keep_warm`
(pre-warmed ones, like provisioned concurrency, are kept). A container that failed or
timed out is discarded (killed); a waiter then gets a fresh one.

Runs on the gateway's event loop only. Generic over the container type so the
scheduling is unit-tested with fakes (tests/unit/localgw/test_pool.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)


class Poolable(Protocol):
    idle_since: float

    @property
    def pid(self) -> int: ...

    @property
    def alive(self) -> bool: ...

    def kill(self) -> None: ...


C = TypeVar("C", bound=Poolable)


class PoolClosedError(Exception):
    """The gateway is stopping: no container is started any more."""


class FunctionPool(Generic[C]):
    def __init__(
        self,
        start: Callable[[bool], Awaitable[C]],
        *,
        max_size: int,
        idle_timeout: float,
        keep_warm: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # start(for_invocation): False for pre-warmed containers (their init is not an
        # invocation's cold start).
        self._start = start
        self._accepting = True
        self._max_size = max_size
        self._idle_timeout = idle_timeout
        self._keep_warm = keep_warm
        self._clock = clock
        # Most recently released last: reusing it keeps the others idle, so that a
        # burst's extra containers retire.
        self._idle: list[C] = []
        self._busy: list[C] = []
        self._starting = 0
        self._waiters: deque[asyncio.Future[C]] = deque()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def size(self) -> int:
        """Containers alive or starting: what the concurrency cap counts."""
        return len(self._idle) + len(self._busy) + self._starting

    def snapshot(self) -> dict[str, Any]:
        return {
            "idle": [c.pid for c in self._idle],
            "busy": [c.pid for c in self._busy],
            "starting": self._starting,
            "waiting": sum(1 for w in self._waiters if not w.done()),
        }

    async def acquire(self) -> C:
        """A container for one invocation; give it back with release() or discard()."""
        while self._idle:
            container = self._idle.pop()
            if container.alive:
                self._busy.append(container)
                return container
            container.kill()
        if not self._accepting:
            raise PoolClosedError
        if self.size < self._max_size:
            return await self._start_for_caller()
        waiter: asyncio.Future[C] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a container just as the caller gave up: pass it on.
                self.release(waiter.result())
            raise

    def release(self, container: C) -> None:
        """The invocation ended normally: the container is warm and free."""
        self._remove_busy(container)
        if not container.alive:
            container.kill()
            self._after_loss()
            return
        container.idle_since = self._clock()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._busy.append(container)
                waiter.set_result(container)
                return
        self._idle.append(container)

    def discard(self, container: C) -> None:
        """The invocation failed the container (timeout, crash): kill it."""
        self._remove_busy(container)
        container.kill()
        self._after_loss()

    def retire_idle(self) -> int:
        """Kill containers idle for idle_timeout (keeping keep_warm); how many went."""
        now = self._clock()
        retired = 0
        for container in list(self._idle):
            stale = now - container.idle_since >= self._idle_timeout
            if not container.alive or (stale and self.size > self._keep_warm):
                self._idle.remove(container)
                container.kill()
                retired += 1
        if retired:
            self._after_loss()
        return retired

    async def prewarm(self) -> None:
        """Start keep_warm containers now and wait for them (failures are logged)."""
        missing = self._keep_warm - self.size
        if missing <= 0:
            return
        self._starting += missing
        results = await asyncio.gather(
            *(self._start(False) for _ in range(missing)), return_exceptions=True
        )
        self._starting -= missing
        for result in results:
            if isinstance(result, BaseException):
                logger.error("pre-warming a container failed", exc_info=result)
            else:
                self._busy.append(result)
                self.release(result)

    def stop_starting(self) -> None:
        """Start no container any more (the gateway is stopping; whatever runs is
        killed with the process table)."""
        self._accepting = False
        for task in self._background:
            task.cancel()

    async def _start_for_caller(self) -> C:
        self._starting += 1
        try:
            container = await self._start(True)
        except BaseException:
            self._starting -= 1
            self._after_loss()
            raise
        self._starting -= 1
        self._busy.append(container)
        return container

    def _remove_busy(self, container: C) -> None:
        for n, busy in enumerate(self._busy):
            if busy is container:
                del self._busy[n]
                return

    def _after_loss(self) -> None:
        """A slot came free without a container: start one for a waiter, or to keep
        the pre-warmed number."""
        if not self._accepting:
            return
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        wanted = max(len(self._waiters), self._keep_warm - self.size)
        for _ in range(min(wanted, self._max_size - self.size)):
            self._starting += 1
            # Started for a waiter, it is that invocation's cold start.
            coroutine = self._start_in_background(bool(self._waiters))
            task = asyncio.get_running_loop().create_task(coroutine)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _start_in_background(self, for_invocation: bool) -> None:
        try:
            container = await self._start(for_invocation)
        except Exception as exc:
            self._starting -= 1
            logger.error("starting a container failed", exc_info=exc)
            # The waiter it was started for fails as its invocation would have.
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(exc)
                    break
            return
        except BaseException:
            self._starting -= 1
            raise
        self._starting -= 1
        self._busy.append(container)
        self.release(container)
