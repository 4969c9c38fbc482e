"""Open WebSocket connections: ordered outgoing frames, send budget, close and abort.

Everything here runs on the gateway's event loop thread. Frames the management API
accepted, error frames and the close frame of one connection go through a single FIFO
outbox drained by one short-lived writer task, so a DELETE issued after a POST closes
the socket only after that POST's frame was written.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from starlette.types import Send

from infra.localgw.events import ConnectionFacts

logger = logging.getLogger(__name__)

# How long a close frame may wait behind frames a client is not reading before the
# socket is torn down without it.
CLOSE_GRACE_SECONDS = 2.0


class GoneError(Exception):
    """The connection is unknown or already closed (GoneException, 410)."""


class SendBufferFullError(Exception):
    """Frames waiting for a slow client exceed the send budget (LimitExceeded, 429)."""


class Connection:
    def __init__(
        self,
        facts: ConnectionFacts,
        send: Send,
        abort: Callable[[], None],
        send_budget: int,
        now: float,
    ) -> None:
        self.facts = facts
        self.last_active_at = now
        # Handler invocations of one connection run one at a time, in arrival order,
        # and $disconnect waits for them: deterministic for tests, and never later
        # than the integration timeout per message.
        self.inbound = asyncio.Lock()
        self.fire_disconnect = True
        self._send = send
        self._abort = abort
        self._budget = send_budget
        self._pending = 0
        self._outbox: deque[tuple[dict[str, Any], int]] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._open = True
        self._wire_closed = False
        self._close_status: tuple[int, str] | None = None

    @property
    def connection_id(self) -> str:
        return self.facts.connection_id

    @property
    def is_open(self) -> bool:
        return self._open

    def close_status(self, code: int, reason: str) -> tuple[int, str]:
        """The status $disconnect reports: ours when the gateway closed, else the peer's."""
        return self._close_status or (code, reason)

    def post(self, data: bytes) -> None:
        """Queue one frame; text when the data is UTF-8, binary otherwise."""
        if not self._open:
            raise GoneError(self.connection_id)
        if self._pending + len(data) > self._budget:
            raise SendBufferFullError(self.connection_id)
        try:
            message: dict[str, Any] = {"type": "websocket.send", "text": data.decode("utf-8")}
        except UnicodeDecodeError:
            message = {"type": "websocket.send", "bytes": data}
        self._enqueue(message, len(data))

    def send_text(self, text: str) -> None:
        """Queue a gateway frame (error frames); dropped once the connection is closing."""
        self.send_frame(text)

    def send_frame(self, data: str | bytes) -> None:
        """Queue a gateway frame, text or binary (route responses, error frames).

        Not counted against the send budget: one frame per client message, bounded by
        the message quota, and the client is the one sending those messages."""
        if self._open:
            key = "text" if isinstance(data, str) else "bytes"
            self._enqueue({"type": "websocket.send", key: data}, 0)

    def close(self, code: int, reason: str) -> bool:
        """Start closing after the frames already accepted; False if already closing."""
        if not self._open:
            return False
        self._open = False
        self._close_status = (code, reason)
        self._enqueue({"type": "websocket.close", "code": code, "reason": reason}, 0)
        loop = asyncio.get_running_loop()
        loop.call_later(CLOSE_GRACE_SECONDS, self._abort_if_stuck)
        return True

    def drop(self) -> bool:
        """Tear the socket down without a close frame and without firing $disconnect."""
        if not self._open:
            return False
        self._open = False
        self.fire_disconnect = False
        self._close_status = (1006, "Dropped by the local gateway")
        self._wire_closed = True
        self._outbox.clear()
        self._abort()
        return True

    def peer_closed(self) -> None:
        """The client closed or vanished: stop accepting and writing frames."""
        self._open = False
        self._wire_closed = True

    def _enqueue(self, message: dict[str, Any], size: int) -> None:
        self._pending += size
        self._outbox.append((message, size))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._outbox:
                message, size = self._outbox.popleft()
                try:
                    if not self._wire_closed:
                        await self._send(message)
                except (OSError, RuntimeError):
                    # The client went away mid-write (uvicorn raises ClientDisconnected,
                    # an OSError, or RuntimeError after its close); drop what is left.
                    self._wire_closed = True
                finally:
                    self._pending -= size
                if message["type"] == "websocket.close":
                    self._wire_closed = True
        finally:
            self._writer = None

    def _abort_if_stuck(self) -> None:
        # The writer still holds the close frame: the client stopped reading and the
        # transport is paused. Close the socket anyway, as API Gateway would.
        if not self._wire_closed:
            logger.info(
                "closing a connection whose client stopped reading",
                extra={"connection_id": self.connection_id},
            )
            self._wire_closed = True
            self._abort()


class ConnectionRegistry:
    """Open connections by id (event-loop thread only)."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}

    def add(self, connection: Connection) -> None:
        self._connections[connection.connection_id] = connection

    def remove(self, connection: Connection) -> None:
        if self._connections.get(connection.connection_id) is connection:
            del self._connections[connection.connection_id]

    def get(self, connection_id: str) -> Connection | None:
        connection = self._connections.get(connection_id)
        if connection is None or not connection.is_open:
            return None
        return connection

    def __len__(self) -> int:
        return len(self._connections)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._connections.values()))

    def ids(self) -> list[str]:
        return [c.connection_id for c in self._connections.values() if c.is_open]
