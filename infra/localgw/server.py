"""The in-process API: load the app, serve it with uvicorn on a background thread.

    with LocalGateway("path/to/chalice/project", limits=Limits(idle_timeout=1)) as gw:
        gw.urls.ws_url, gw.urls.rest_url, gw.urls.management_url
        gw.drop(connection_id)   # close without $disconnect

The listening socket is bound before anything else, so port 0 works and the real URL
is known before the app's `websocket_api` is pointed at it. The CLI (__main__) runs
this same class.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import uvicorn
from chalice.app import Chalice
from starlette.routing import BaseRoute

from infra.localgw.connections import ConnectionRegistry
from infra.localgw.containers import ContainerSpec
from infra.localgw.core import GatewayCore
from infra.localgw.environ import install_scoped_environ
from infra.localgw.events import CONNECT_ROUTE, DISCONNECT_ROUTE
from infra.localgw.invokers import Invoker, ThreadInvoker
from infra.localgw.loader import (
    LoadedApp,
    load_app,
    make_request_state_thread_local,
    point_websocket_api,
)
from infra.localgw.process_invoker import ProcessInvoker
from infra.localgw.protocol import http_protocol_class, protocol_class
from infra.localgw.routes import build_asgi_app
from infra.localgw.runtime import FUNCTIONS, ChaliceRuntime, function_names
from infra.localgw.settings import (
    Clock,
    ConnectionThrottle,
    GatewayUrls,
    Limits,
    WorkerSettings,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_WORKERS = 64
Runtime = Literal["threads", "processes"]
RUNTIMES: tuple[Runtime, ...] = ("threads", "processes")


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


class LocalGateway:
    """A local API Gateway (WebSocket + REST + Management API) for one Chalice app."""

    def __init__(
        self,
        app_dir: str | os.PathLike[str],
        *,
        stage: str = "dev",
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        region: str | None = None,
        clock: Clock = time.time,
        shutdown_timeout: int = 3,
        env: Mapping[str, str] | None = None,
        extra_routes: Sequence[BaseRoute] = (),
        route_responses: Collection[str] = (),
        runtime: Runtime = "threads",
        workers: WorkerSettings | None = None,
    ) -> None:
        """`runtime`: "processes" runs every invocation in a worker process, per Lambda
        function (`workers` sizes them); "threads" in this process's handler threads
        (`max_workers` of them), which in-process tests and benchmarks rely on."""
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        self._runtime: Runtime = runtime
        self._workers = workers or WorkerSettings()
        self._app_dir = Path(app_dir)
        self._chalice_stage = stage
        self._host = host
        self._port = port
        self._limits = limits or Limits()
        self._max_workers = max_workers
        self._region = region or default_region()
        self._clock = clock
        self._shutdown_timeout = shutdown_timeout
        self._env = dict(env or {})
        # Served on the same port before the REST catch-all (make dev's page and tokens).
        self._extra_routes = tuple(extra_routes)
        self._route_responses = validate_route_responses(route_responses)
        self._loaded: LoadedApp | None = None
        self._core: GatewayCore | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket: socket.socket | None = None

    @property
    def urls(self) -> GatewayUrls:
        return self._started_core().urls

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    @property
    def app(self) -> Chalice:
        """The loaded Chalice app object (for tests that inspect it).

        With the processes runtime this is the gateway's own copy, which only tells it
        the routes: handlers run in containers that imported the app themselves."""
        if self._loaded is None:
            raise RuntimeError("gateway not started")
        return self._loaded.app

    def start(self, timeout: float = 30.0) -> GatewayUrls:
        if self._thread is not None:
            raise RuntimeError("gateway already started")
        self._socket = _bind(self._host, self._port)
        try:
            core = self._build_core(self._socket.getsockname()[1])
            self._server = uvicorn.Server(self._uvicorn_config(core))
            self._thread = threading.Thread(target=self._run, name="localgw-server", daemon=True)
            self._thread.start()
            deadline = time.monotonic() + timeout
            while not self._server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("local gateway failed to start")
                time.sleep(0.005)
        except BaseException:
            self.stop()
            raise
        return core.urls

    def _build_core(self, port: int) -> GatewayCore:
        environ = install_scoped_environ()
        self._loaded = loaded = load_app(self._app_dir, self._chalice_stage, environ)
        for route_key in loaded.blueprint_websocket_routes():
            logger.error(
                "Blueprint websocket handler will fail: Chalice does not wrap them",
                extra={"route_key": route_key},
            )
        urls = GatewayUrls.build(self._host, port, loaded.api_stage)
        gateway_env = {
            "AWS_REGION": self._region,
            "AWS_DEFAULT_REGION": self._region,
            "LOCALGW_MANAGEMENT_URL": urls.management_url,
            "LOCALGW_WS_URL": urls.ws_url,
            **{name: urls.expand(value) for name, value in self._env.items()},
        }
        runtime = ChaliceRuntime(loaded, self._chalice_stage, environ, gateway_env)
        invoker = self._invoker(loaded, runtime, urls)
        for route_key in sorted(self._route_responses - runtime.route_keys):
            logger.warning(
                "route response for a route the app does not have", extra={"route_key": route_key}
            )
        rate = self._limits.new_connections_per_second
        self._core = GatewayCore(
            invoker=invoker,
            registry=ConnectionRegistry(),
            limits=self._limits,
            urls=urls,
            stage=loaded.api_stage,
            api_id=hashlib.sha256(str(loaded.config.app_name).encode()).hexdigest()[:10],
            clock=self._clock,
            throttle=ConnectionThrottle(rate) if rate is not None else None,
            route_responses=self._route_responses,
        )
        return self._core

    def _invoker(self, loaded: LoadedApp, runtime: ChaliceRuntime, urls: GatewayUrls) -> Invoker:
        timeout = self._limits.integration_timeout
        if self._runtime == "threads":
            make_request_state_thread_local(loaded.app)
            point_websocket_api(loaded.app, urls.management_url, self._region, self._max_workers)
            return ThreadInvoker(runtime, self._max_workers, timeout)
        # This process's copy of the app only tells the routes apart; handlers run in
        # containers that import it anew, with their function's environment.
        base_env = dict(os.environ)
        specs = {
            name: ContainerSpec(
                app_dir=str(loaded.app_dir),
                chalice_stage=self._chalice_stage,
                function_name=name,
                management_url=urls.management_url,
                region=self._region,
                env={**base_env, **runtime.environment(name)},
            )
            for name in FUNCTIONS
        }
        deployed = frozenset(function_names(runtime.route_keys, bool(runtime.rest_routes)))
        return ProcessInvoker(
            specs, runtime.route_keys, runtime.rest_routes, self._workers, timeout, deployed
        )

    def workers(self) -> dict[str, Any]:
        """The runtime and its containers (pids per function, idle or busy)."""
        core = self._started_core()
        return self._on_loop(core.invoker.workers)

    def _uvicorn_config(self, core: GatewayCore) -> uvicorn.Config:
        http_protocol = http_protocol_class(self._limits)
        return uvicorn.Config(
            build_asgi_app(core, self._extra_routes),
            http=http_protocol,
            h11_max_incomplete_event_size=http_protocol.max_incomplete_head(),
            ws=protocol_class(self._limits.max_frame_bytes),
            ws_max_size=self._limits.max_message_bytes,
            # API Gateway neither pings clients nor negotiates permessage-deflate
            # (which would also cost ~100 KB of zlib state per idle connection).
            ws_ping_interval=None,
            ws_per_message_deflate=False,
            lifespan="off",
            # sourceIp is the peer's address; no X-Forwarded-For rewriting.
            proxy_headers=False,
            # uvicorn's own request lines carry query strings (tokens): off.
            access_log=False,
            log_config=None,
            log_level=logging.WARNING,
            timeout_graceful_shutdown=self._shutdown_timeout,
        )

    def _run(self) -> None:
        assert self._server is not None and self._socket is not None
        asyncio.run(self._serve(self._server, self._socket))

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        assert self._core is not None
        # Before serving: start() returns once pre-warmed containers are ready.
        await self._core.invoker.start()
        await server.serve(sockets=[sock])

    def stop(self) -> None:
        """Close every socket and stop; $disconnect is not fired, handlers not awaited."""
        if self._core is not None:
            self._core.shutting_down = True
            if self._loop is not None:
                # Nothing may start a container while the loop winds down.
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    self._loop.call_soon_threadsafe(self._core.invoker.begin_shutdown)
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(self._shutdown_timeout + 5)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(5.0)
        if self._socket is not None:
            self._socket.close()
        if self._core is not None:
            self._core.invoker.close()
        if self._loaded is not None:
            self._loaded.unload()
        self._thread = None
        self._server = None

    def __enter__(self) -> LocalGateway:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def connection_ids(self) -> list[str]:
        core = self._started_core()
        return self._on_loop(core.registry.ids)

    def drop(self, connection_id: str) -> bool:
        """Close a connection's socket without firing $disconnect (stale-connection tests)."""
        core = self._started_core()

        def drop_on_loop() -> bool:
            connection = core.registry.get(connection_id)
            return connection is not None and connection.drop()

        return self._on_loop(drop_on_loop)

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the gateway's event loop thread (the registry lives there)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("gateway not started")

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10.0)

    def _started_core(self) -> GatewayCore:
        if self._core is None:
            raise RuntimeError("gateway not started")
        return self._core


def validate_route_responses(route_keys: Collection[str]) -> frozenset[str]:
    """Route keys that may have a route response: message routes, not $connect/$disconnect.

    API Gateway sends a route response after a message; $connect answers with the
    handshake and $disconnect has no client left to answer."""
    keys = frozenset(route_keys)
    invalid = sorted(keys & {CONNECT_ROUTE, DISCONNECT_ROUTE})
    if invalid:
        raise ValueError(f"no route response on {', '.join(invalid)}: only message routes have one")
    return keys


def _bind(host: str, port: int) -> socket.socket:
    """Bind before serving, so port 0 yields the real port before any URL is built."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it two frames written back to back to one client wait ~40 ms for
    # the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock
