"""A small Chalice app the local gateway's end-to-end tests run on (not our IM app).

It uses only what any Chalice WebSocket app uses -- `app.websocket_api.send/close/info`,
`WebsocketDisconnectedError`, REST routes, `current_request` -- and records every
WebSocket event it receives (GET /events) so the tests can validate them with
Powertools' Parser models.

Messages are JSON `{"action": ..., ...}` (anything else is echoed back as is):
whoami, echo, broadcast, send_to, raise, sleep, info, close, return, env, context.
`$connect` query parameters: reject=<status>, raise=1, sleep=<seconds>, protocol=<name>.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Response, WebsocketDisconnectedError, WebsocketEvent

app = Chalice(app_name="localgw-example")

RECEIVED_EVENTS: list[dict[str, Any]] = []
CONNECTED: set[str] = set()
_connected_lock = threading.Lock()

Command = dict[str, Any]


def _record(event: WebsocketEvent) -> None:
    RECEIVED_EVENTS.append(event.to_dict())


def _reply(event: WebsocketEvent, payload: Any) -> None:
    app.websocket_api.send(event.connection_id, json.dumps(payload))


def _connect(event: WebsocketEvent) -> dict[str, Any]:
    _record(event)
    query = event.to_dict().get("queryStringParameters") or {}
    if "reject" in query:
        return {"statusCode": int(query["reject"]), "body": json.dumps({"rejected": True})}
    if "raise" in query:
        raise RuntimeError("$connect failed on purpose")
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    with _connected_lock:
        CONNECTED.add(event.connection_id)
    if "protocol" in query:
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": query["protocol"]}}
    return {"statusCode": 200}


def _whoami(event: WebsocketEvent, command: Command) -> None:
    _reply(event, {"connection_id": event.connection_id})


def _echo(event: WebsocketEvent, command: Command) -> None:
    app.websocket_api.send(event.connection_id, event.body)


def _broadcast(event: WebsocketEvent, command: Command) -> None:
    frame = json.dumps({"from": event.connection_id, "data": command.get("data")})
    with _connected_lock:
        targets = list(CONNECTED)
    for connection_id in targets:
        try:
            app.websocket_api.send(connection_id, frame)
        except WebsocketDisconnectedError:
            with _connected_lock:
                CONNECTED.discard(connection_id)


def _send_to(event: WebsocketEvent, command: Command) -> None:
    target = command["target"]
    try:
        app.websocket_api.send(target, json.dumps({"data": command.get("data")}))
    except WebsocketDisconnectedError:
        with _connected_lock:
            CONNECTED.discard(target)
        _reply(event, {"gone": target})
    else:
        _reply(event, {"sent": target})


def _raise(event: WebsocketEvent, command: Command) -> None:
    raise RuntimeError("message handler failed on purpose")


def _sleep(event: WebsocketEvent, command: Command) -> None:
    time.sleep(float(command["seconds"]))
    _reply(event, {"slept": command["seconds"]})


def _info(event: WebsocketEvent, command: Command) -> None:
    info = app.websocket_api.info(event.connection_id)
    _reply(
        event,
        {
            "connectedAt": info["ConnectedAt"].isoformat(),
            "lastActiveAt": info["LastActiveAt"].isoformat(),
            "identity": info["Identity"],
        },
    )


def _close(event: WebsocketEvent, command: Command) -> None:
    app.websocket_api.close(event.connection_id)


def _return(event: WebsocketEvent, command: Command) -> dict[str, Any]:
    # API Gateway sends no route response for Chalice apps: this must never reach the client.
    return {"statusCode": 200, "body": "a return value is not a frame"}


def _env(event: WebsocketEvent, command: Command) -> None:
    _reply(event, {name: os.environ.get(name) for name in command["names"]})


def _context(event: WebsocketEvent, command: Command) -> None:
    context = event.context
    _reply(
        event,
        {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    )


_ACTIONS: dict[str, Callable[[WebsocketEvent, Command], Any]] = {
    "echo": _echo,
    "whoami": _whoami,
    "broadcast": _broadcast,
    "send_to": _send_to,
    "raise": _raise,
    "sleep": _sleep,
    "info": _info,
    "close": _close,
    "return": _return,
    "env": _env,
    "context": _context,
}


def _message(event: WebsocketEvent) -> Any:
    _record(event)
    try:
        command = json.loads(event.body)
    except ValueError:
        command = None
    if not isinstance(command, dict):
        _echo(event, {})
        return None
    return _ACTIONS.get(str(command.get("action")), _echo)(event, command)


def _disconnect(event: WebsocketEvent) -> None:
    _record(event)
    with _connected_lock:
        CONNECTED.discard(event.connection_id)


@app.on_ws_connect()
def connect(event: WebsocketEvent) -> dict[str, Any]:
    return _connect(event)


@app.on_ws_message()
def message(event: WebsocketEvent) -> Any:
    return _message(event)


@app.on_ws_disconnect()
def disconnect(event: WebsocketEvent) -> None:
    _disconnect(event)


@app.route("/hello")
def hello() -> dict[str, Any]:
    return {"hello": "world", "env": os.environ.get("EXAMPLE_FUNCTION_VAR")}


@app.route("/events")
def events() -> dict[str, Any]:
    return {"events": RECEIVED_EVENTS}


@app.route("/connections")
def connections() -> dict[str, Any]:
    with _connected_lock:
        return {"connections": sorted(CONNECTED)}


@app.route("/slow-echo")
def slow_echo() -> dict[str, Any]:
    # current_request must stay this request's while other requests run in parallel.
    params = app.current_request.query_params or {}
    time.sleep(float(params.get("sleep", "0")))
    return {"value": (app.current_request.query_params or {}).get("value")}


@app.route("/notify/{connection_id}", methods=["POST"])
def notify(connection_id: str) -> Response:
    body = app.current_request.raw_body.decode("utf-8")
    try:
        app.websocket_api.send(connection_id, body)
    except WebsocketDisconnectedError:
        return Response(body={"gone": connection_id}, status_code=410)
    return Response(body={"sent": connection_id}, status_code=200)


@app.route("/boom")
def boom() -> dict[str, Any]:
    raise RuntimeError("REST handler failed on purpose")


@app.route("/api/nested")
def nested() -> dict[str, Any]:
    return {"nested": True}
