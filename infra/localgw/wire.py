"""Messages between the gateway and its worker processes: length-prefixed JSON.

One message is a 4-byte big-endian length and that many bytes of UTF-8 JSON (events
and results are JSON already; bytes travel as base64). Worker -> gateway, once:
`{"type": "ready", ...}` or `{"type": "init_error", "error": ...}`; then one response
per request, requests one at a time. The gateway side reads with asyncio streams, the
worker side with a blocking socket.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Mapping
from typing import Any

_LENGTH = struct.Struct("!I")
# Far above anything legitimate (a 10 MB REST body is ~14 MB as base64): a length past
# it means the stream is out of step, not a big message.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

Message = dict[str, Any]


class WireError(Exception):
    """The peer sent something that is not a message of this protocol."""


def encode(message: Mapping[str, Any]) -> bytes:
    """Raises TypeError/ValueError when the message is not JSON-serialisable."""
    payload = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(payload)} bytes is over {MAX_MESSAGE_BYTES}")
    return _LENGTH.pack(len(payload)) + payload


def decode(payload: bytes) -> Message:
    try:
        message = json.loads(payload)
    except ValueError as exc:
        raise WireError("not JSON") from exc
    if not isinstance(message, dict):
        raise WireError("not a JSON object")
    return message


def payload_length(header: bytes) -> int:
    (length,) = _LENGTH.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise WireError(f"length {length} is over {MAX_MESSAGE_BYTES}")
    return int(length)


async def read_message(reader: asyncio.StreamReader) -> Message:
    """The next message; asyncio.IncompleteReadError when the worker is gone."""
    length = payload_length(await reader.readexactly(_LENGTH.size))
    return decode(await reader.readexactly(length))


class BlockingChannel:
    """The worker's end: blocking reads and writes on its inherited socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = sock.makefile("rb")

    def receive(self) -> Message | None:
        """The next request, or None once the gateway closed its end."""
        header = self._reader.read(_LENGTH.size)
        if len(header) < _LENGTH.size:
            return None
        length = payload_length(header)
        payload = self._reader.read(length)
        if len(payload) < length:
            return None
        return decode(payload)

    def send(self, message: Mapping[str, Any]) -> None:
        self._sock.sendall(encode(message))
