"""The gateway's routes on its single port, first match wins.

WebSocket  /{stage} (and /{stage}/)               the WebSocket API (websocket.py)
HTTP       /{stage}/@connections/{id}             the Management API (management.py);
           (also /{stage}/%40connections/{id})    another stage answers 403
HTTP       /_localgw/...                          the local admin API (management.py)
HTTP       extra_routes given to LocalGateway     the embedder's own (make dev's page)
HTTP       anything else                          the app's REST API (rest.py)
WebSocket  anything else                          403, as API Gateway

Every request is first held to the request-head quota (quotas.py): 431 when over.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Route, Router, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.localgw.core import GatewayCore
from infra.localgw.management import AdminApi, ManagementApi
from infra.localgw.quotas import head_refusal
from infra.localgw.rest import RestProxy, send_answer
from infra.localgw.settings import Limits
from infra.localgw.websocket import WebSocketEndpoint, send_denial


class HeadQuota:
    """Refuse a request whose request line and header values exceed the quota.

    uvicorn's protocol (protocol.py) already refuses oversize upgrades before the
    WebSocket parser sees them; this covers every HTTP request, and upgrades when the
    app is served by another ASGI server.
    """

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self._app = app
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            target = scope.get("raw_path") or scope["path"].encode()
            if scope["query_string"]:
                target += b"?" + scope["query_string"]
            method = scope.get("method", "GET").encode()
            refusal = head_refusal(method, target, scope["headers"], self._limits)
            if refusal is not None:
                if scope["type"] == "http":
                    await send_answer(send, refusal)
                else:
                    await send_denial(send, refusal)
                return
        await self._app(scope, receive, send)


def build_asgi_app(core: GatewayCore, extra_routes: Sequence[BaseRoute] = ()) -> ASGIApp:
    management = ManagementApi(core)
    admin = AdminApi(core)
    websocket = WebSocketEndpoint(core)
    stage = core.stage
    router = Router(
        routes=[
            WebSocketRoute(f"/{stage}", websocket),
            WebSocketRoute(f"/{stage}/", websocket),
            Route(
                "/{stage}/@connections/{connection_id:path}",
                management.connection,
                methods=["POST", "GET", "DELETE"],
            ),
            Route("/_localgw/info", admin.info, methods=["GET"]),
            Route("/_localgw/connections", admin.connections, methods=["GET"]),
            Route("/_localgw/workers", admin.workers, methods=["GET"]),
            Route("/_localgw/connections/{connection_id}/drop", admin.drop, methods=["POST"]),
            # The embedder's own routes (make dev: the web page); never above the gateway's.
            *extra_routes,
        ],
        default=RestProxy(core),
    )
    return HeadQuota(router, core.limits)
