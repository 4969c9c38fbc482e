"""How the gateway's endpoints call the app: one interface, two runtimes.

`Invoker` is all websocket.py and rest.py know: invoke a WebSocket route, serve a REST
request, within the integration timeout. `ThreadInvoker` runs the handlers in the
gateway's own process, in a bounded pool of daemon threads (all "containers" share
module state; handy for tests that inspect the app in-process). `ProcessInvoker`
(process_invoker.py) runs them in worker processes, one pool of containers per
Lambda function, as Lambda does.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from infra.localgw.events import Event
from infra.localgw.executor import DaemonThreadPool
from infra.localgw.responses import HttpAnswer
from infra.localgw.runtime import ChaliceRuntime

T = TypeVar("T")


class IntegrationTimeoutError(Exception):
    """The handler did not return within the integration timeout."""


class HandlerError(Exception):
    """The invocation failed in the handler or its container (message says how)."""


class Invoker(Protocol):
    route_keys: frozenset[str]
    rest_routes: list[str]

    async def start(self) -> None:
        """Called on the event loop once it runs (pre-warming, housekeeping)."""

    async def invoke_websocket(self, route_key: str, event: Event) -> Any:
        """The Lambda entry point's return value; raises IntegrationTimeoutError or
        any exception for a failed invocation."""

    async def serve_rest(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> HttpAnswer:
        """The REST response (Chalice's own 403/401 denials included)."""

    def workers(self) -> dict[str, Any]:
        """What runs the handlers, for the admin API."""

    def begin_shutdown(self) -> None:
        """On the event loop, when the gateway starts stopping: start nothing new."""

    def close(self) -> None:
        """Stop everything started; callable from any thread, more than once."""


class ThreadInvoker:
    def __init__(self, runtime: ChaliceRuntime, max_workers: int, timeout: float) -> None:
        self._runtime = runtime
        self._executor = DaemonThreadPool(max_workers)
        self._timeout = timeout
        self.route_keys = runtime.route_keys
        self.rest_routes = runtime.rest_routes

    async def start(self) -> None:
        return None

    async def invoke_websocket(self, route_key: str, event: Event) -> Any:
        return await self._call(self._runtime.invoke_websocket, route_key, event)

    async def serve_rest(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> HttpAnswer:
        return await self._call(self._runtime.serve_rest, method, path, headers, body)

    def workers(self) -> dict[str, Any]:
        return {"runtime": "threads", "max_workers": self._executor.max_workers}

    def begin_shutdown(self) -> None:
        return None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # Off the event loop, which keeps serving the management API the handler may
        # be calling. A thread cannot be stopped: after the timeout it finishes in the
        # background, as a Lambda would after API Gateway stopped waiting.
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, functools.partial(fn, *args))
        # asyncio.wait, not wait_for: a TimeoutError the handler itself raises must not
        # be mistaken for the integration timeout.
        done, _ = await asyncio.wait({future}, timeout=self._timeout)
        if not done:
            future.cancel()
            raise IntegrationTimeoutError
        return future.result()
