"""The gateway's routes on its single port, first match wins.

WebSocket  /{stage} (and /{stage}/)               the WebSocket API (websocket.py)
HTTP       /{stage}/@connections/{id}             the Management API (management.py);
           (also /{stage}/%40connections/{id})    another stage answers 403
HTTP       /_localgw/...                          the local admin API (management.py)
HTTP       extra_routes given to LocalGateway     the embedder's own (make dev's page)
HTTP       anything else                          the app's REST API (rest.py)
WebSocket  anything else                          403, as API Gateway
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Route, Router, WebSocketRoute

from infra.localgw.core import GatewayCore
from infra.localgw.management import AdminApi, ManagementApi
from infra.localgw.rest import RestProxy
from infra.localgw.websocket import WebSocketEndpoint


def build_asgi_app(core: GatewayCore, extra_routes: Sequence[BaseRoute] = ()) -> Router:
    management = ManagementApi(core)
    admin = AdminApi(core)
    websocket = WebSocketEndpoint(core)
    stage = core.stage
    return Router(
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
            Route("/_localgw/connections/{connection_id}/drop", admin.drop, methods=["POST"]),
            # The embedder's own routes (make dev: the web page); never above the gateway's.
            *extra_routes,
        ],
        default=RestProxy(core),
    )
