"""A small Chalice app the local gateway's end-to-end tests run on (not our IM app).

It uses only what any Chalice WebSocket app uses -- `app.websocket_api.send/close/info`,
`WebsocketDisconnectedError`, REST routes, `current_request` -- and records every
WebSocket event it receives (GET /events) so the tests can validate them with
Powertools' Parser models.

Like a deployed app, it keeps what its functions share (events, connected ids) outside
any one container: in an SQLite file under $EXAMPLE_STATE_DIR, which the tests set
(each Lambda function then runs in its own processes); without it, in memory, which
only works when every handler runs in one process. Module globals (`_INVOCATIONS`)
are per container, which the `count` action shows.

Messages are JSON `{"action": ..., ...}` (anything else is echoed back as is):
whoami, echo, broadcast, send_to, raise, sleep, info, close, return, env, context;
count (this container's pid and invocation count), hold (says `holding`, sleeps,
then the same),
exit (the process dies mid-invocation); for route responses: reply (returns a body,
after posting `before` when given), reply_with (returns `result` as is).
GET /count is `count` for the REST function's container.
`$connect` query parameters: reject=<status>, raise=1, sleep=<seconds>, protocol=<name>.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalice.app import Chalice, Response, WebsocketDisconnectedError, WebsocketEvent

app = Chalice(app_name="localgw-example")

Command = dict[str, Any]

_INVOCATIONS = [0]


class _State:
    """Received events and connected ids, shared by all containers of the app."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._connected: set[str] = set()
        self._lock = threading.Lock()
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection | None:
        directory = os.environ.get("EXAMPLE_STATE_DIR")
        if not directory:
            return None
        path = str(Path(directory) / "example-state.db")
        if getattr(self._local, "path", None) != path:
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, event TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS connected (id TEXT PRIMARY KEY)")
            self._local.db, self._local.path = db, path
        connection: sqlite3.Connection = self._local.db
        return connection

    def record(self, event: dict[str, Any]) -> None:
        db = self._db()
        if db is None:
            with self._lock:
                self._events.append(event)
        else:
            db.execute("INSERT INTO events (event) VALUES (?)", (json.dumps(event),))

    def events(self) -> list[dict[str, Any]]:
        db = self._db()
        if db is None:
            with self._lock:
                return list(self._events)
        return [json.loads(row[0]) for row in db.execute("SELECT event FROM events ORDER BY seq")]

    def add(self, connection_id: str) -> None:
        db = self._db()
        if db is None:
            with self._lock:
                self._connected.add(connection_id)
        else:
            db.execute("INSERT OR IGNORE INTO connected VALUES (?)", (connection_id,))

    def discard(self, connection_id: str) -> None:
        db = self._db()
        if db is None:
            with self._lock:
                self._connected.discard(connection_id)
        else:
            db.execute("DELETE FROM connected WHERE id = ?", (connection_id,))

    def connected(self) -> list[str]:
        db = self._db()
        if db is None:
            with self._lock:
                return sorted(self._connected)
        return [row[0] for row in db.execute("SELECT id FROM connected ORDER BY id")]


STATE = _State()


def _record(event: WebsocketEvent) -> None:
    STATE.record(event.to_dict())


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
    STATE.add(event.connection_id)
    if "protocol" in query:
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": query["protocol"]}}
    return {"statusCode": 200}


def _whoami(event: WebsocketEvent, command: Command) -> None:
    _reply(event, {"connection_id": event.connection_id})


def _echo(event: WebsocketEvent, command: Command) -> None:
    app.websocket_api.send(event.connection_id, event.body)


def _broadcast(event: WebsocketEvent, command: Command) -> None:
    frame = json.dumps({"from": event.connection_id, "data": command.get("data")})
    for connection_id in STATE.connected():
        try:
            app.websocket_api.send(connection_id, frame)
        except WebsocketDisconnectedError:
            STATE.discard(connection_id)


def _send_to(event: WebsocketEvent, command: Command) -> None:
    target = command["target"]
    try:
        app.websocket_api.send(target, json.dumps({"data": command.get("data")}))
    except WebsocketDisconnectedError:
        STATE.discard(target)
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


def _reply_body(event: WebsocketEvent, command: Command) -> dict[str, Any]:
    # Sent to the client only when the gateway has a route response for the route.
    if "before" in command:
        app.websocket_api.send(event.connection_id, command["before"])
    return {"statusCode": 200, "body": json.dumps({"reply": command.get("data")})}


def _reply_with(event: WebsocketEvent, command: Command) -> Any:
    return command.get("result")


def _container() -> dict[str, int]:
    # Module state: counts the invocations of this container (process) only.
    _INVOCATIONS[0] += 1
    return {"pid": os.getpid(), "count": _INVOCATIONS[0]}


def _count(event: WebsocketEvent, command: Command) -> None:
    _reply(event, _container())


def _hold(event: WebsocketEvent, command: Command) -> None:
    # Says it started, so a test knows this container is busy from now on.
    _reply(event, {"holding": os.getpid()})
    time.sleep(float(command["seconds"]))
    _reply(event, _container())


def _exit(event: WebsocketEvent, command: Command) -> None:
    os._exit(3)


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
    "reply": _reply_body,
    "count": _count,
    "hold": _hold,
    "exit": _exit,
    "reply_with": _reply_with,
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
    STATE.discard(event.connection_id)


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
    return {"events": STATE.events()}


@app.route("/count")
def count() -> dict[str, int]:
    return _container()


@app.route("/connections")
def connections() -> dict[str, Any]:
    return {"connections": STATE.connected()}


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


@app.route("/body-length", methods=["POST"], content_types=["application/octet-stream"])
def body_length() -> dict[str, Any]:
    return {"length": len(app.current_request.raw_body)}


@app.route("/boom")
def boom() -> dict[str, Any]:
    raise RuntimeError("REST handler failed on purpose")


@app.route("/api/nested")
def nested() -> dict[str, Any]:
    return {"nested": True}
