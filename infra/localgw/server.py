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
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import uvicorn
from chalice.app import Chalice
from starlette.routing import BaseRoute

from infra.localgw.connections import ConnectionRegistry
from infra.localgw.core import GatewayCore
from infra.localgw.environ import install_scoped_environ
from infra.localgw.executor import DaemonThreadPool
from infra.localgw.loader import (
    LoadedApp,
    load_app,
    make_request_state_thread_local,
    point_websocket_api,
)
from infra.localgw.protocol import GatewayHttpProtocol, protocol_class
from infra.localgw.routes import build_asgi_app
from infra.localgw.runtime import ChaliceRuntime
from infra.localgw.settings import Clock, ConnectionThrottle, GatewayUrls, Limits

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_WORKERS = 64


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
    ) -> None:
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
    def app(self) -> Chalice:
        """The loaded Chalice app object (for tests that inspect it)."""
        if self._loaded is None:
            raise RuntimeError("gateway not started")
        return self._loaded.app

    def start(self, timeout: float = 10.0) -> GatewayUrls:
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
        make_request_state_thread_local(loaded.app)
        point_websocket_api(loaded.app, urls.management_url, self._region, self._max_workers)
        gateway_env = {
            "AWS_REGION": self._region,
            "AWS_DEFAULT_REGION": self._region,
            "LOCALGW_MANAGEMENT_URL": urls.management_url,
            "LOCALGW_WS_URL": urls.ws_url,
            **{name: urls.expand(value) for name, value in self._env.items()},
        }
        runtime = ChaliceRuntime(loaded, self._chalice_stage, environ, gateway_env)
        rate = self._limits.new_connections_per_second
        self._core = GatewayCore(
            runtime=runtime,
            registry=ConnectionRegistry(),
            executor=DaemonThreadPool(self._max_workers),
            limits=self._limits,
            urls=urls,
            stage=loaded.api_stage,
            api_id=hashlib.sha256(str(loaded.config.app_name).encode()).hexdigest()[:10],
            clock=self._clock,
            throttle=ConnectionThrottle(rate) if rate is not None else None,
        )
        return self._core

    def _uvicorn_config(self, core: GatewayCore) -> uvicorn.Config:
        return uvicorn.Config(
            build_asgi_app(core, self._extra_routes),
            http=GatewayHttpProtocol,
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
        await server.serve(sockets=[sock])

    def stop(self) -> None:
        """Close every socket and stop; $disconnect is not fired, handlers not awaited."""
        if self._core is not None:
            self._core.shutting_down = True
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(self._shutdown_timeout + 5)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(5.0)
        if self._socket is not None:
            self._socket.close()
        if self._core is not None:
            self._core.executor.shutdown(wait=False, cancel_futures=True)
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
