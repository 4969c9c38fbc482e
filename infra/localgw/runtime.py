"""Invoke a loaded Chalice app's real Lambda entry points, as Lambda would.

WebSocket events go through `app.handler_map[name](event, context)` -- the wrapper
Lambda runs (middleware, return-value normalisation, `configure_from_api_id`), never
`handler_function`. REST requests go through `chalice.local.LocalGateway`, like
`chalice.test`. Each call gets a real `LambdaContext` and the environment variables of
the Chalice function that would serve it on AWS (`websocket_connect`,
`websocket_message`, `websocket_disconnect`, `api_handler`). Calls block: the gateway
runs them in its handler threads (threads runtime) or a worker process runs them, one
at a time, in its main thread (processes runtime, worker.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from chalice.app import Chalice, WebsocketEventSourceHandler
from chalice.config import Config
from chalice.constants import DEFAULT_LAMBDA_MEMORY_SIZE, DEFAULT_LAMBDA_TIMEOUT
from chalice.local import LambdaContext, LocalGatewayException
from chalice.local import LocalGateway as ChaliceLocalGateway

from infra.localgw.environ import ScopedEnviron
from infra.localgw.events import CONNECT_ROUTE, DISCONNECT_ROUTE, Event
from infra.localgw.loader import LoadedApp
from infra.localgw.responses import HttpAnswer, rest_answer, rest_error_answer

REST_FUNCTION = "api_handler"
MESSAGE_FUNCTION = "websocket_message"
_WEBSOCKET_FUNCTIONS = {
    CONNECT_ROUTE: "websocket_connect",
    DISCONNECT_ROUTE: "websocket_disconnect",
}
# Every Lambda function a Chalice app with REST and WebSocket routes deploys.
FUNCTIONS = (REST_FUNCTION, "websocket_connect", MESSAGE_FUNCTION, "websocket_disconnect")


class BlueprintWebsocketHandlerError(RuntimeError):
    """Chalice does not wrap websocket handlers registered on a Blueprint."""


def websocket_function_name(route_key: str) -> str:
    """The Chalice function (and config.json `lambda_functions` key) serving a route."""
    return _WEBSOCKET_FUNCTIONS.get(route_key, MESSAGE_FUNCTION)


def function_names(route_keys: frozenset[str], has_rest_routes: bool) -> list[str]:
    """The Lambda functions an app deploys for these routes (each has its containers)."""
    names = sorted({websocket_function_name(key) for key in route_keys})
    return [*names, REST_FUNCTION] if has_rest_routes else names


class _ContextGateway(ChaliceLocalGateway):
    """chalice.local's REST gateway, with the same LambdaContext as WebSocket calls."""

    def __init__(
        self, app: Chalice, config: Config, make_context: Callable[[], LambdaContext]
    ) -> None:
        super().__init__(app, config)
        self._make_context = make_context

    def _generate_lambda_context(self) -> LambdaContext:
        return self._make_context()


class ChaliceRuntime:
    def __init__(
        self,
        loaded: LoadedApp,
        chalice_stage: str,
        environ: ScopedEnviron | None,
        gateway_env: Mapping[str, str],
    ) -> None:
        """`environ` scopes each call's function environment (threads runtime); None
        when the process environment already is the function's (a worker process)."""
        self._loaded = loaded
        self._app = loaded.app
        self._stage = chalice_stage
        self._environ = environ
        self._gateway_env = dict(gateway_env)
        self._configs: dict[str, Config] = {}
        # The context of this thread's latest call, for its request id (REPORT lines).
        self._latest = threading.local()
        self._rest_config = self.config(REST_FUNCTION)
        self._rest_gateway = _ContextGateway(
            self._app, self._rest_config, lambda: self.new_context(REST_FUNCTION)
        )
        self.route_keys = frozenset(self._app.websocket_handlers)
        self.rest_routes = list(self._app.routes)

    def has_route(self, route_key: str) -> bool:
        return route_key in self.route_keys

    def config(self, function_name: str) -> Config:
        """The config scoped to one function (environment, memory, timeout)."""
        # Config.scope() copies the config; a handful of function names, built once.
        config = self._configs.get(function_name)
        if config is None:
            config = self._configs[function_name] = self._loaded.config.scope(
                self._stage, function_name
            )
        return config

    def environment(self, function_name: str) -> dict[str, str]:
        """The variables a function's container adds to the process environment."""
        # Gateway-provided values (region, management URL) first, so an explicit
        # setting in config.json wins.
        return {**self._gateway_env, **self.config(function_name).environment_variables}

    def memory_size(self, function_name: str) -> int:
        size: int = self.config(function_name).lambda_memory_size or DEFAULT_LAMBDA_MEMORY_SIZE
        return size

    def new_context(self, function_name: str) -> LambdaContext:
        config = self.config(function_name)
        timeout = config.lambda_timeout or DEFAULT_LAMBDA_TIMEOUT
        context = LambdaContext(
            function_name=f"{config.app_name}-{self._stage}-{function_name}",
            memory_size=self.memory_size(function_name),
            max_runtime_ms=timeout * 1000,
        )
        self._latest.context = context
        return context

    def forget_latest(self) -> None:
        """Before a call: a call that fails before it gets a context reports none."""
        self._latest.context = None

    @property
    def latest_request_id(self) -> str | None:
        """aws_request_id of the context this thread's latest call was given."""
        context: LambdaContext | None = getattr(self._latest, "context", None)
        return None if context is None else str(context.aws_request_id)

    def _scoped(self, function_name: str) -> AbstractContextManager[None]:
        if self._environ is None:
            return nullcontext()
        return self._environ.scoped(self.environment(function_name))

    def invoke_websocket(self, route_key: str, event: Event) -> Any:
        """Run the handler for a route key; returns what the Lambda entry point returns."""
        handler_config = self._app.websocket_handlers[route_key]
        handler = self._app.handler_map[handler_config.name]
        if not isinstance(handler, WebsocketEventSourceHandler):
            raise BlueprintWebsocketHandlerError(
                f"websocket handler {handler_config.name!r} ({route_key}) was registered on a "
                "Blueprint; Chalice does not wrap Blueprint websocket handlers, so it fails on "
                "Lambda too. Register it with @app.on_ws_* on the Chalice app."
            )
        function_name = websocket_function_name(route_key)
        # Chalice annotates the context as a dict; Lambda passes an object like this one.
        context: Any = self.new_context(function_name)
        with self._scoped(function_name):
            return handler(event, context)

    def serve_rest(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> HttpAnswer:
        """Serve one REST request as chalice.local does, denials (403, 401) included."""
        try:
            with self._scoped(REST_FUNCTION):
                result: dict[str, Any] = self._rest_gateway.handle_request(
                    method=method, path=path, headers=headers, body=body
                )
        except LocalGatewayException as exc:
            return rest_error_answer(exc.CODE, exc.headers, exc.body)
        return rest_answer(result)
