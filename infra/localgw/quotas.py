"""API Gateway's request-size quotas: the request head, the WebSocket URL and REST bodies.

Quotas (docs.aws.amazon.com/apigateway/latest/developerguide/limits.html): REST APIs
allow 10,240 bytes of "request line and header values" and a 10 MB payload; WebSocket
APIs a 4,096-character URL. The size arithmetic and the refusals are pure and
unit-tested; `read_capped_body` streams an ASGI body and gives up as soon as the cap
is passed, so an oversize body is never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Receive

from infra.localgw.responses import HttpAnswer, json_answer
from infra.localgw.settings import Limits

# Statuses and bodies are choices: AWS documents the quotas, not the answers. 413
# "Request Too Long" and 431 are what clients report seeing from API Gateway.
_CLOSE = (("Connection", "close"),)
HEAD_TOO_LARGE = json_answer(431, {"message": "Request Header Fields Too Large"}, _CLOSE)
URL_TOO_LONG = json_answer(414, {"message": "Request-URI Too Long"}, _CLOSE)
BODY_TOO_LARGE = json_answer(413, {"message": "Request Too Long"})


class ClientGoneError(Exception):
    """The client disconnected before its request body was complete."""


def head_size(method: bytes, target: bytes, header_values: Iterable[bytes]) -> int:
    """What the quota counts: the request line ("GET /path?q HTTP/1.1") and header values."""
    request_line = len(method) + 1 + len(target) + len(b" HTTP/1.1")
    return request_line + sum(len(value) for value in header_values)


def head_refusal(
    method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]], limits: Limits
) -> HttpAnswer | None:
    """431 when the request head is over the quota, else None."""
    size = head_size(method, target, (value for _, value in headers))
    return HEAD_TOO_LARGE if size > limits.max_header_bytes else None


def upgrade_refusal(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    limits: Limits,
    *,
    max_line_bytes: int,
    max_header_lines: int,
) -> HttpAnswer | None:
    """The head quota plus the WebSocket URL quota, for an upgrade request.

    `max_line_bytes` / `max_header_lines` are what the WebSocket handshake parser
    accepts (websockets' own caps, 8 KiB per line and 128 lines): a request over them
    would otherwise fail inside the parser, so it is refused here with the same 431
    even when the total is within the quota (stricter than AWS for a single header
    line of 8-10 KiB; choice).
    """
    if len(target) > limits.max_websocket_url_bytes:
        return URL_TOO_LONG
    refusal = head_refusal(method, target, headers, limits)
    if refusal is not None:
        return refusal
    lines = [len(name) + 2 + len(value) + 2 for name, value in headers]
    if len(headers) > max_header_lines or any(n > max_line_bytes for n in lines):
        return HEAD_TOO_LARGE
    return None


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length a client announced, or None (chunked, absent or malformed)."""
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_capped_body(
    receive: Receive, headers: Iterable[tuple[bytes, bytes]], cap: int
) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed `cap` bytes.

    A declared Content-Length over the cap is refused before a byte is read; a chunked
    body is counted while it arrives. uvicorn buffers at most ~64 KiB ahead of this
    reader (then pauses the socket), so memory stays near the cap whatever is sent;
    what the client still sends after the refusal is discarded by the server.
    """
    declared = declared_length(headers)
    if declared is not None and declared > cap:
        return None
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        body += message.get("body", b"")
        if len(body) > cap:
            return None
        if not message.get("more_body", False):
            return bytes(body)
