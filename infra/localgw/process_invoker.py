"""The processes runtime: every invocation runs in a worker process, as in a Lambda container.

One pool of containers per Chalice function (`api_handler`, `websocket_connect`,
`websocket_message`, `websocket_disconnect`), each started with that function's
environment. The integration timeout really ends a stuck invocation: its container is
killed (the next invocation gets another). Each invocation logs a Lambda-style REPORT
line; a cold start logs the container's start and its Init Duration.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from infra.localgw.containers import Container, ContainerSpec, ProcessTable, start_container
from infra.localgw.events import Event
from infra.localgw.invokers import HandlerError, IntegrationTimeoutError
from infra.localgw.pool import FunctionPool, PoolClosedError
from infra.localgw.responses import HttpAnswer
from infra.localgw.runtime import REST_FUNCTION, websocket_function_name
from infra.localgw.settings import WorkerSettings
from infra.localgw.wire import Message

logger = logging.getLogger(__name__)


def report_line(
    request_id: str | None,
    duration_ms: float,
    memory_size: int,
    max_memory_used_mb: int,
    init_ms: float | None,
) -> str:
    """Lambda's REPORT log line (tab-separated, as CloudWatch shows it)."""
    parts = [
        f"REPORT RequestId: {request_id or '-'}",
        f"Duration: {duration_ms:.2f} ms",
        # Lambda bills by the millisecond, rounded up.
        f"Billed Duration: {max(1, math.ceil(duration_ms))} ms",
        f"Memory Size: {memory_size} MB",
        f"Max Memory Used: {max_memory_used_mb} MB",
    ]
    if init_ms is not None:
        parts.append(f"Init Duration: {init_ms:.2f} ms")
    return "\t".join(parts)


def describe_error(error: Any) -> str:
    """A worker's error as one message: type, text, and the worker's traceback."""
    if not isinstance(error, Mapping):
        return "the invocation failed"
    text = f"{error.get('type')}: {error.get('message')}"
    trace = error.get("traceback")
    return f"{text}\n--- in the container:\n{trace}".rstrip() if trace else text


class ProcessInvoker:
    def __init__(
        self,
        specs: Mapping[str, ContainerSpec],
        route_keys: frozenset[str],
        rest_routes: list[str],
        settings: WorkerSettings,
        timeout: float,
        warm_functions: frozenset[str] = frozenset(),
    ) -> None:
        """`specs` by function name; `warm_functions` get settings.prewarm containers."""
        self.route_keys = route_keys
        self.rest_routes = rest_routes
        self._settings = settings
        self._timeout = timeout
        self._table = ProcessTable()
        self._pools: dict[str, FunctionPool[Container]] = {
            name: FunctionPool(
                functools.partial(self._start_container, spec),
                max_size=settings.max_per_function,
                idle_timeout=settings.idle_timeout,
                keep_warm=settings.prewarm if name in warm_functions else 0,
            )
            for name, spec in specs.items()
        }
        self._housekeeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.gather(*(pool.prewarm() for pool in self._pools.values()))
        self._housekeeping = asyncio.get_running_loop().create_task(self._housekeep())

    async def invoke_websocket(self, route_key: str, event: Event) -> Any:
        request = {"kind": "websocket", "route_key": route_key, "event": event}
        response = await self._invoke(websocket_function_name(route_key), request)
        return response.get("result")

    async def serve_rest(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> HttpAnswer:
        request = {
            "kind": "rest",
            "method": method,
            "path": path,
            "headers": headers,
            "body": None if body is None else base64.b64encode(body).decode("ascii"),
        }
        answer = (await self._invoke(REST_FUNCTION, request))["answer"]
        return HttpAnswer(
            status=int(answer["status"]),
            headers=tuple((str(k), str(v)) for k, v in answer["headers"]),
            body=base64.b64decode(answer["body"]),
        )

    def workers(self) -> dict[str, Any]:
        return {
            "runtime": "processes",
            "max_per_function": self._settings.max_per_function,
            "idle_timeout": self._settings.idle_timeout,
            "functions": {name: pool.snapshot() for name, pool in self._pools.items()},
        }

    def begin_shutdown(self) -> None:
        for pool in self._pools.values():
            pool.stop_starting()

    def close(self) -> None:
        # From any thread, also once the loop is gone: the process table is
        # thread-safe and killing needs no loop.
        self._table.kill_all()

    async def _invoke(self, function_name: str, request: Message) -> Message:
        pool = self._pools[function_name]
        container: Container | None = None
        started = time.perf_counter()
        try:
            # Waiting for a container and its cold start count, as API Gateway's
            # clock runs from the request.
            async with asyncio.timeout(self._timeout):
                container = await pool.acquire()
                response = await container.invoke(request)
        except TimeoutError as exc:
            if container is not None:
                pool.discard(container)
                logger.warning(
                    "integration timeout: container killed",
                    extra={
                        "function": function_name,
                        "pid": container.pid,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            raise IntegrationTimeoutError from exc
        except PoolClosedError as exc:
            raise HandlerError("the gateway is stopping") from exc
        except BaseException:
            # The container died, or the gateway is stopping (cancelled): it cannot
            # be trusted with another invocation.
            if container is not None:
                pool.discard(container)
            raise
        pool.release(container)
        logger.info(
            report_line(
                response.get("request_id"),
                float(response.get("duration_ms", 0.0)),
                container.memory_size,
                int(response.get("max_memory_used_mb", 0)),
                container.take_init_ms(),
            ),
            extra={"function": function_name, "pid": container.pid},
        )
        if not response.get("ok"):
            raise HandlerError(describe_error(response.get("error")))
        return response

    async def _start_container(self, spec: ContainerSpec, for_invocation: bool) -> Container:
        container = await start_container(spec, self._table)
        logger.info(
            "cold start" if for_invocation else "container pre-warmed",
            extra={
                "function": spec.function_name,
                "pid": container.pid,
                "init_duration_ms": round(container.init_ms or 0.0, 2),
            },
        )
        if not for_invocation:
            # Like provisioned concurrency: no invocation waited for this init.
            container.take_init_ms()
        return container

    async def _housekeep(self) -> None:
        tick = max(0.05, min(self._settings.idle_timeout / 2, 1.0))
        while True:
            await asyncio.sleep(tick)
            for pool in self._pools.values():
                pool.retire_idle()
            self._table.reap()
