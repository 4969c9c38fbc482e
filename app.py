"""serverless-im: routes only. Each handler hands its event to chalicelib.handlers.

Importing this module connects to nothing and imports little: clients are built on
first use, once per warm container (chalicelib.deps), and each route imports its
handler module when it first runs, so a cold start pays only for what its route needs.
"""

from __future__ import annotations

import importlib
from typing import Any

from chalice.app import Chalice, Request, Response, WebsocketEvent

from chalicelib import cors
from chalicelib.deps import require_settings, services
from chalicelib.handlers.http import uniform_errors
from chalicelib.observability import observe

app = Chalice(app_name="serverless-im")
# Chalice still gates its WebSocket support behind an opt-in; package/deploy stop without it.
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.register_middleware(observe, "all")
app.register_middleware(require_settings, "all")  # a bad configuration: 500, one log line
app.register_middleware(uniform_errors, "http")
app.register_middleware(cors.middleware(lambda: services().settings.cors_allow_origins), "http")


@app.on_ws_connect()
def connect(event: WebsocketEvent) -> dict[str, Any]:
    from chalicelib.handlers import connection

    return connection.on_connect(event, services())


@app.on_ws_message()
def message(event: WebsocketEvent) -> dict[str, Any]:
    from chalicelib.handlers import ws

    return ws.on_message(event, services())


@app.on_ws_disconnect()
def disconnect(event: WebsocketEvent) -> dict[str, Any]:
    from chalicelib.handlers import connection

    return connection.on_disconnect(event, services())


# Every REST route is a POST with a JSON body (and an OPTIONS preflight for browsers),
# served by the function of that name in chalicelib/handlers/rest.py.
REST_ROUTES: dict[str, str] = {
    "/api/v1/messages/unread": "unread",
    "/api/v1/messages/mark-read": "mark_read",
    "/api/v1/messages/send": "send",
    "/api/v1/messages/recall": "recall",
    "/api/v1/messages/receipts": "receipts",
    "/api/v1/conversations": "conversations",
    "/api/v1/conversations/history": "history",
    "/api/v1/conversations/mark-read": "conversation_read",
    "/api/v1/groups": "group_list",
    "/api/v1/groups/create": "group_create",
    "/api/v1/groups/members": "group_members",
    "/api/v1/groups/add-members": "group_add",
    "/api/v1/groups/remove-members": "group_remove",
    "/api/v1/groups/leave": "group_leave",
}


def _request() -> Request:
    request = app.current_request
    if request is None:  # Chalice sets it before calling any route
        raise RuntimeError("no current request")
    return request


def _register(path: str, name: str) -> None:
    def post() -> Response:
        handler = getattr(importlib.import_module("chalicelib.handlers.rest"), name)
        response: Response = handler(_request(), services())
        return response

    def preflight() -> Response:
        return cors.preflight(_request(), services().settings.cors_allow_origins)

    app.route(path, methods=["POST"], name=name)(post)
    app.route(path, methods=["OPTIONS"], name=f"{name}_preflight")(preflight)


for _path, _handler in REST_ROUTES.items():
    _register(_path, _handler)
