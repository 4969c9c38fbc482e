"""The WebSocket API: one ASGI task per connection, from upgrade to $disconnect.

The upgrade is held until $connect returns (2xx accepts, anything else is the HTTP
status of the refusal). Text messages are routed on `$request.body.action` and run one
at a time per connection; a failing or slow handler gets the client
an error frame, never the connection closed; a route configured with a route response
(two-way) sends the handler's result `body` back as a frame. Binary messages close with 1003; frames
and messages over the quotas are closed with 1009 by the protocol layer; idle and
maximum-duration timeouts close with 1001. Every close but a test's drop and a gateway
shutdown fires $disconnect, after the connection's in-flight messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from infra.localgw.connections import Connection
from infra.localgw.core import GatewayCore, IntegrationTimeoutError
from infra.localgw.events import (
    CONNECT_ROUTE,
    DISCONNECT_ROUTE,
    INTERNAL_ERROR,
    NO_ROUTE_ERROR,
    TIMEOUT_ERROR,
    ConnectionFacts,
    connect_event,
    disconnect_event,
    disconnect_reason,
    error_frame,
    message_event,
    new_id,
    select_route_key,
)
from infra.localgw.protocol import ABORT_EXTENSION
from infra.localgw.responses import (
    HANDSHAKE_ACCEPT,
    HANDSHAKE_ERROR,
    HANDSHAKE_THROTTLED,
    HANDSHAKE_TIMEOUT,
    Handshake,
    HttpAnswer,
    MalformedRouteResponseError,
    handshake_from_result,
    route_response_frame,
)

logger = logging.getLogger(__name__)

BINARY_REASON = "Binary frames are not supported"
IDLE_REASON = "Idle timeout"
MAX_DURATION_REASON = "Maximum connection duration reached"


class _Deadlines:
    """Idle and maximum-duration timers of one connection (one timer handle each)."""

    def __init__(self, connection: Connection, idle: float, max_duration: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._connection = connection
        self._idle = idle
        self.last_seen = self._loop.time()
        self._idle_timer = self._loop.call_later(idle, self._check_idle)
        self._max_timer = self._loop.call_later(
            max_duration, connection.close, 1001, MAX_DURATION_REASON
        )

    def touch(self) -> None:
        # Only stamps the time; the timer re-arms itself when it fires early, so a busy
        # connection costs no timer churn.
        self.last_seen = self._loop.time()

    def _check_idle(self) -> None:
        remaining = self.last_seen + self._idle - self._loop.time()
        if remaining > 0:
            self._idle_timer = self._loop.call_later(remaining, self._check_idle)
        else:
            self._connection.close(1001, IDLE_REASON)

    def cancel(self) -> None:
        self._idle_timer.cancel()
        self._max_timer.cancel()


async def send_denial(send: Send, answer: HttpAnswer) -> None:
    """Refuse an upgrade with an HTTP response (ASGI websocket.http.response extension)."""
    await send(
        {
            "type": "websocket.http.response.start",
            "status": answer.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers],
        }
    )
    await send({"type": "websocket.http.response.body", "body": answer.body})


class WebSocketEndpoint:
    def __init__(self, core: GatewayCore) -> None:
        self._core = core
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        core = self._core
        if core.throttle is not None and not core.throttle.try_acquire():
            logger.warning("new connection throttled")
            await send_denial(send, HANDSHAKE_THROTTLED.denial)
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        facts = self._facts(scope, headers)
        handshake = await self._connect(facts, headers, scope["query_string"].decode("latin-1"))
        if not handshake.accept:
            logger.info(
                "connection refused",
                extra={"connection_id": facts.connection_id, "status": handshake.denial.status},
            )
            await send_denial(send, handshake.denial)
            return
        connection = Connection(
            facts, send, self._abort_for(scope), core.limits.send_buffer_bytes, core.clock()
        )
        try:
            await send({"type": "websocket.accept", "subprotocol": handshake.subprotocol})
        except OSError:
            # The client left while $connect ran. The app believes it connected, so it
            # gets the $disconnect it would get on AWS.
            connection.peer_closed()
            await self._disconnect(connection, 1006, disconnect_reason(1006, ""))
            return
        core.registry.add(connection)
        deadlines = _Deadlines(
            connection, core.limits.idle_timeout, core.limits.max_connection_duration
        )
        logger.info("connected", extra={"connection_id": facts.connection_id})
        try:
            code, reason = await self._receive_until_closed(connection, deadlines, receive)
        finally:
            core.registry.remove(connection)
            deadlines.cancel()
            connection.peer_closed()
        code, reason = connection.close_status(code, reason)
        logger.info("disconnected", extra={"connection_id": facts.connection_id, "code": code})
        if connection.fire_disconnect and not core.shutting_down:
            await self._disconnect(connection, code, disconnect_reason(code, reason))

    def _facts(self, scope: Scope, headers: list[tuple[str, str]]) -> ConnectionFacts:
        client = scope.get("client")
        user_agents = [v for k, v in headers if k.lower() == "user-agent"]
        return ConnectionFacts(
            connection_id=new_id(),
            connected_at=self._core.clock(),
            source_ip=client[0] if client else "127.0.0.1",
            domain_name=self._core.urls.domain_name,
            stage=self._core.stage,
            api_id=self._core.api_id,
            user_agent=user_agents[-1] if user_agents else None,
        )

    @staticmethod
    def _abort_for(scope: Scope) -> Callable[[], None]:
        extension = (scope.get("extensions") or {}).get(ABORT_EXTENSION) or {}
        abort: Callable[[], None] | None = extension.get("abort")
        if abort is None:
            # Served by a stock ASGI server: a drop then leaves the socket to time out.
            return lambda: logger.warning("server cannot abort connections")
        return abort

    async def _connect(
        self, facts: ConnectionFacts, headers: list[tuple[str, str]], query: str
    ) -> Handshake:
        if not self._core.has_route(CONNECT_ROUTE):
            return HANDSHAKE_ACCEPT
        request_id = new_id()
        event = connect_event(facts, headers, query, request_id, self._core.clock())
        log_keys = {"connection_id": facts.connection_id, "request_id": request_id}
        try:
            result = await self._core.invoker.invoke_websocket(CONNECT_ROUTE, event)
        except IntegrationTimeoutError:
            logger.warning("$connect timed out", extra=log_keys)
            return HANDSHAKE_TIMEOUT
        except Exception:
            logger.exception("$connect raised", extra=log_keys)
            return HANDSHAKE_ERROR
        return handshake_from_result(result)

    async def _receive_until_closed(
        self, connection: Connection, deadlines: _Deadlines, receive: Receive
    ) -> tuple[int, str]:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return int(message.get("code") or 1005), str(message.get("reason") or "")
            if kind != "websocket.receive" or not connection.is_open:
                continue
            text = message.get("text")
            if text is None:
                connection.close(1003, BINARY_REASON)
                continue
            deadlines.touch()
            connection.last_active_at = self._core.clock()
            task = asyncio.get_running_loop().create_task(self._on_message(connection, text))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _on_message(self, connection: Connection, body: str) -> None:
        core = self._core
        async with connection.inbound:
            if core.shutting_down:
                return
            request_id = new_id()
            route_key = select_route_key(body, core.invoker.route_keys)
            log_keys = {
                "connection_id": connection.connection_id,
                "request_id": request_id,
                "route_key": route_key,
            }
            if route_key is None:
                logger.warning("no route for message", extra=log_keys)
                connection.send_text(
                    error_frame(NO_ROUTE_ERROR, connection.connection_id, request_id)
                )
                return
            event = message_event(
                connection.facts, body, route_key, request_id, new_id(), core.clock()
            )
            started = time.perf_counter()
            try:
                result = await core.invoker.invoke_websocket(route_key, event)
            except IntegrationTimeoutError:
                logger.warning("handler timed out", extra=log_keys)
                failure = TIMEOUT_ERROR
            except Exception:
                logger.exception("handler raised", extra=log_keys)
                failure = INTERNAL_ERROR
            else:
                elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
                logger.debug("message handled", extra={**log_keys, "duration_ms": elapsed_ms})
                if route_key not in core.route_responses:
                    return
                try:
                    # After the frames the handler posted itself: those were queued
                    # when the management API answered, before the handler returned.
                    connection.send_frame(
                        route_response_frame(result, core.limits.max_message_bytes)
                    )
                    return
                except MalformedRouteResponseError as exc:
                    logger.warning(
                        "malformed route response", extra={**log_keys, "reason": str(exc)}
                    )
                    failure = INTERNAL_ERROR
            connection.send_text(error_frame(failure, connection.connection_id, request_id))

    async def _disconnect(self, connection: Connection, code: int, reason: str) -> None:
        core = self._core
        async with connection.inbound:
            if core.shutting_down or not core.has_route(DISCONNECT_ROUTE):
                return
            request_id = new_id()
            event = disconnect_event(connection.facts, code, reason, request_id, core.clock())
            log_keys = {"connection_id": connection.connection_id, "request_id": request_id}
            try:
                await core.invoker.invoke_websocket(DISCONNECT_ROUTE, event)
            except IntegrationTimeoutError:
                logger.warning("$disconnect timed out", extra=log_keys)
            except Exception:
                logger.exception("$disconnect raised", extra=log_keys)
