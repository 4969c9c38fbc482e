"""Invoke a loaded Chalice app's real Lambda entry points, as Lambda would.

WebSocket events go through `app.handler_map[name](event, context)` -- the wrapper
Lambda runs (middleware, return-value normalisation, `configure_from_api_id`), never
`handler_function`. REST requests go through `chalice.local.LocalGateway`, like
`chalice.test`. Each call gets a real `LambdaContext` and the environment variables of
the Chalice function that would serve it on AWS (`websocket_connect`,
`websocket_message`, `websocket_disconnect`, `api_handler`). Calls block: the server
runs them in its worker threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice.app import WebsocketEventSourceHandler
from chalice.config import Config
from chalice.constants import DEFAULT_LAMBDA_MEMORY_SIZE, DEFAULT_LAMBDA_TIMEOUT
from chalice.local import LambdaContext
from chalice.local import LocalGateway as ChaliceLocalGateway

from infra.localgw.environ import ScopedEnviron
from infra.localgw.events import CONNECT_ROUTE, DISCONNECT_ROUTE, Event
from infra.localgw.loader import LoadedApp

REST_FUNCTION = "api_handler"
_WEBSOCKET_FUNCTIONS = {
    CONNECT_ROUTE: "websocket_connect",
    DISCONNECT_ROUTE: "websocket_disconnect",
}


class BlueprintWebsocketHandlerError(RuntimeError):
    """Chalice does not wrap websocket handlers registered on a Blueprint."""


def websocket_function_name(route_key: str) -> str:
    """The Chalice function (and config.json `lambda_functions` key) serving a route."""
    return _WEBSOCKET_FUNCTIONS.get(route_key, "websocket_message")


class ChaliceRuntime:
    def __init__(
        self,
        loaded: LoadedApp,
        chalice_stage: str,
        environ: ScopedEnviron,
        gateway_env: Mapping[str, str],
    ) -> None:
        self._loaded = loaded
        self._app = loaded.app
        self._stage = chalice_stage
        self._environ = environ
        self._gateway_env = dict(gateway_env)
        self._configs: dict[str, Config] = {}
        self._rest_config = self._scoped(REST_FUNCTION)
        self._rest_gateway = ChaliceLocalGateway(self._app, self._rest_config)
        self.route_keys = frozenset(self._app.websocket_handlers)
        self.rest_routes = list(self._app.routes)

    def has_route(self, route_key: str) -> bool:
        return route_key in self.route_keys

    def _scoped(self, function_name: str) -> Config:
        # Config.scope() copies the config; a handful of function names, built once.
        config = self._configs.get(function_name)
        if config is None:
            config = self._configs[function_name] = self._loaded.config.scope(
                self._stage, function_name
            )
        return config

    def _environment(self, config: Config) -> dict[str, str]:
        # Gateway-provided values (region, management URL) first, so an explicit
        # setting in config.json wins.
        return {**self._gateway_env, **config.environment_variables}

    def _context(self, function_name: str, config: Config) -> LambdaContext:
        timeout = config.lambda_timeout or DEFAULT_LAMBDA_TIMEOUT
        return LambdaContext(
            function_name=f"{config.app_name}-{self._stage}-{function_name}",
            memory_size=config.lambda_memory_size or DEFAULT_LAMBDA_MEMORY_SIZE,
            max_runtime_ms=timeout * 1000,
        )

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
        config = self._scoped(function_name)
        # Chalice annotates the context as a dict; Lambda passes an object like this one.
        context: Any = self._context(function_name, config)
        with self._environ.scoped(self._environment(config)):
            return handler(event, context)

    def handle_rest(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> dict[str, Any]:
        """Serve one REST request; raises chalice.local.LocalGatewayException on denial."""
        with self._environ.scoped(self._environment(self._rest_config)):
            response: dict[str, Any] = self._rest_gateway.handle_request(
                method=method, path=path, headers=headers, body=body
            )
        return response
