"""State shared by the gateway's endpoints, and the one way they call handlers.

`GatewayCore.call` runs a blocking handler call in the bounded worker pool, leaving the
event loop free to serve the management API the handler may be calling, and gives up
waiting after the integration timeout (the worker thread cannot be stopped; it finishes
in the background, as a Lambda would after API Gateway stopped waiting).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from infra.localgw.connections import ConnectionRegistry
from infra.localgw.executor import DaemonThreadPool
from infra.localgw.runtime import ChaliceRuntime
from infra.localgw.settings import Clock, ConnectionThrottle, GatewayUrls, Limits

T = TypeVar("T")


class IntegrationTimeoutError(Exception):
    """The handler did not return within the integration timeout."""


@dataclass
class GatewayCore:
    runtime: ChaliceRuntime
    registry: ConnectionRegistry
    executor: DaemonThreadPool
    limits: Limits
    urls: GatewayUrls
    stage: str
    api_id: str
    clock: Clock = time.time
    throttle: ConnectionThrottle | None = None
    # Set when the gateway stops: nothing new is invoked ($disconnect included), so
    # shutdown never waits on application code.
    shutting_down: bool = False

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, functools.partial(fn, *args))
        # asyncio.wait, not wait_for: a TimeoutError the handler itself raises must not
        # be mistaken for the integration timeout.
        done, _ = await asyncio.wait({future}, timeout=self.limits.integration_timeout)
        if not done:
            future.cancel()
            raise IntegrationTimeoutError
        return future.result()
