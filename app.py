"""serverless-im: routes only. Each handler hands its event to chalicelib.handlers.

Importing this module connects to nothing: clients are built on first use, once per
warm container (chalicelib.deps).
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, Request, Response, WebsocketEvent

from chalicelib import cors
from chalicelib.deps import services
from chalicelib.handlers import rest, ws
from chalicelib.observability import observe

app = Chalice(app_name="serverless-im")
# Chalice still gates its WebSocket support behind an opt-in; package/deploy stop without it.
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.register_middleware(observe, "all")
app.register_middleware(rest.uniform_errors, "http")
app.register_middleware(cors.middleware(lambda: services().settings.cors_allow_origins), "http")


@app.on_ws_connect()
def connect(event: WebsocketEvent) -> dict[str, Any]:
    return ws.on_connect(event, services())


@app.on_ws_message()
def message(event: WebsocketEvent) -> dict[str, Any]:
    return ws.on_message(event, services())


@app.on_ws_disconnect()
def disconnect(event: WebsocketEvent) -> dict[str, Any]:
    return ws.on_disconnect(event, services())


@app.route("/api/v1/messages/unread", methods=["POST"])
def unread() -> Response:
    return rest.unread(_request(), services())


@app.route("/api/v1/messages/mark-read", methods=["POST"])
def mark_read() -> Response:
    return rest.mark_read(_request(), services())


@app.route("/api/v1/messages/unread", methods=["OPTIONS"])
def unread_preflight() -> Response:
    return cors.preflight(_request(), services().settings.cors_allow_origins)


@app.route("/api/v1/messages/mark-read", methods=["OPTIONS"])
def mark_read_preflight() -> Response:
    return cors.preflight(_request(), services().settings.cors_allow_origins)


def _request() -> Request:
    request = app.current_request
    if request is None:  # Chalice sets it before calling any route
        raise RuntimeError("no current request")
    return request
