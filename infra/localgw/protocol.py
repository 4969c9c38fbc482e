"""uvicorn's sans-I/O WebSocket protocol, extended with what ASGI cannot express.

ASGI hands the application whole messages, never frames, so API Gateway's 32 KB frame
quota cannot be enforced by the application. This subclass sees each frame (uvicorn
dispatches them one by one to `handle_text` / `handle_bytes` / `handle_cont`) and fails
the connection with 1009 when one is too large. The 128 KB message quota is the
`ws_max_size` uvicorn already passes to `websockets` (which counts continuation frames
against it and closes with 1009 before reading the payload).

It also offers the application an ASGI extension, `localgw.abort`, that tears the TCP
connection down without a close frame: the only way to emulate a connection API
Gateway lost, and to close a socket whose client stopped reading.

`GatewayHttpProtocol` keeps the client's spelling of header names through the upgrade:
uvicorn's h11 protocol replays the request to the WebSocket protocol with lowercased
names, while API Gateway hands $connect the headers as the client sent them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import CloseCode, Frame
from websockets.http11 import Request

ABORT_EXTENSION = "localgw.abort"


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    max_frame_bytes: ClassVar[int] = 32 * 1024

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        # No scope: the upgrade request was invalid and uvicorn already answered it.
        # The ASGI task was created but has not run yet, so the extension is in place
        # before the application reads the scope.
        if scope is not None and scope.get("extensions") is not None:
            scope["extensions"][ABORT_EXTENSION] = {"abort": self.abort_transport}

    def handle_text(self, event: Frame) -> None:
        if not self._frame_too_big(event):
            super().handle_text(event)

    def handle_bytes(self, event: Frame) -> None:
        if not self._frame_too_big(event):
            super().handle_bytes(event)

    def handle_cont(self, event: Frame) -> None:
        if not self._frame_too_big(event):
            super().handle_cont(event)

    def connection_lost(self, exc: Exception | None) -> None:
        # uvicorn reports a TCP connection lost without any close frame as 1005, the
        # same as a close frame without a status; API Gateway's $disconnect tells the
        # two apart, so report 1006 (abnormal closure) first.
        if self.handshake_complete and not self.close_sent and self.conn.close_rcvd is None:
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006, "reason": ""})
        super().connection_lost(exc)

    def abort_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def _frame_too_big(self, frame: Frame) -> bool:
        if self.close_sent or len(frame.data) <= self.max_frame_bytes:
            return False
        self.conn.fail(CloseCode.MESSAGE_TOO_BIG, f"Frame exceeds {self.max_frame_bytes} bytes")
        # Same path uvicorn takes when websockets itself rejects a message: report the
        # close code to the application, write the close frame, close the transport.
        self.handle_parser_exception()
        return True


class GatewayHttpProtocol(H11Protocol):
    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        # h11 keeps the raw names beside the lowercased ones; replay those.
        self.headers = list(event.headers.raw_items())
        super().handle_websocket_upgrade(event)


def protocol_class(max_frame_bytes: int) -> type[GatewayWebSocketProtocol]:
    """A protocol class bound to one gateway's frame limit (uvicorn takes a class)."""
    return type(
        "BoundGatewayWebSocketProtocol",
        (GatewayWebSocketProtocol,),
        {"max_frame_bytes": max_frame_bytes},
    )
