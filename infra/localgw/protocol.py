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
names, while API Gateway hands $connect the headers as the client sent them. It also
answers oversize requests (quotas.py) that would otherwise get no answer: an upgrade
whose head the WebSocket parser would reject (uvicorn never writes that parser's
refusal, so the socket used to hang), and a head so large that h11 gives up buffering
it (uvicorn's 400 becomes API Gateway's 431).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, ClassVar

import h11
import websockets.http11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import CloseCode, Frame
from websockets.http11 import Request

from infra.localgw.quotas import HEAD_TOO_LARGE, upgrade_refusal
from infra.localgw.responses import HttpAnswer
from infra.localgw.settings import Limits

logger = logging.getLogger(__name__)

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

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A request the handshake parser refused: websockets queued its own HTTP error
        # response, which uvicorn never writes. Write it and close instead of holding
        # the socket open (GatewayHttpProtocol refuses what it can foresee first).
        refused = not self.handshake_initiated and self.conn.handshake_exc is not None
        if refused and not self.transport.is_closing():
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()

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
    limits: ClassVar[Limits] = Limits()

    @classmethod
    def max_incomplete_head(cls) -> int:
        """h11's buffer cap for an unfinished request head: any head still incomplete
        past it is over the quota anyway (names and separators only add to it)."""
        return max(16 * 1024, 2 * cls.limits.max_header_bytes)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        # h11 keeps the raw names beside the lowercased ones; replay those.
        headers = list(event.headers.raw_items())
        refusal = upgrade_refusal(
            event.method,
            event.target,
            headers,
            self.limits,
            # Read at call time: websockets takes them from its environment at import.
            max_line_bytes=websockets.http11.MAX_LINE_LENGTH,
            max_header_lines=websockets.http11.MAX_NUM_HEADERS,
        )
        if refusal is not None:
            logger.warning("WebSocket upgrade refused", extra={"status": refusal.status})
            self._answer_and_close(refusal)
            return
        self.headers = headers
        super().handle_websocket_upgrade(event)

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this for every h11 protocol error; the one caused by a head
        # larger than h11 will buffer is API Gateway's 431, not a malformed request.
        if len(self.conn.trailing_data[0]) > self.max_incomplete_head():
            logger.warning("request head too large", extra={"status": HEAD_TOO_LARGE.status})
            self._answer_and_close(HEAD_TOO_LARGE)
            return
        super().send_400_response(msg)

    def _answer_and_close(self, answer: HttpAnswer) -> None:
        headers = [
            ("Content-Length", str(len(answer.body))),
            *((name, value) for name, value in answer.headers if name.lower() != "connection"),
            ("Connection", "close"),
        ]
        # h11 still lets the server answer after a client's protocol error (uvicorn's
        # own 400 goes the same way).
        response = h11.Response(
            status_code=answer.status, headers=headers, reason=HTTPStatus(answer.status).phrase
        )
        output = self.conn.send(response)
        output += self.conn.send(h11.Data(data=answer.body)) or b""
        output += self.conn.send(h11.EndOfMessage()) or b""
        self.transport.write(output or b"")
        self.transport.close()


def http_protocol_class(limits: Limits) -> type[GatewayHttpProtocol]:
    """An HTTP protocol class bound to one gateway's request quotas."""
    return type("BoundGatewayHttpProtocol", (GatewayHttpProtocol,), {"limits": limits})


def protocol_class(max_frame_bytes: int) -> type[GatewayWebSocketProtocol]:
    """A protocol class bound to one gateway's frame limit (uvicorn takes a class)."""
    return type(
        "BoundGatewayWebSocketProtocol",
        (GatewayWebSocketProtocol,),
        {"max_frame_bytes": max_frame_bytes},
    )
