"""Typed models for everything that crosses the wire: client frames, REST bodies, replies.

Client input is parsed here, strictly, so nothing a client writes reaches MongoDB
unvalidated; server output is built from models too, so the field names of the
contract live in one place. `types` (field types and limits), `messages` (the message
object), `frames` (WebSocket), `bodies` (REST).
"""

from chalicelib.chat.domain import USER_ID_MAX
from chalicelib.models.bodies import (
    MarkReadBody,
    MarkReadRequest,
    UnreadPageBody,
    UnreadRequest,
)
from chalicelib.models.frames import (
    AckFrame,
    ClientFrame,
    MessageFrame,
    PingFrame,
    PongFrame,
    ReadFrame,
    ReadReceiptFrame,
    RecallFrame,
    SendFrame,
)
from chalicelib.models.messages import Message
from chalicelib.models.types import (
    ACK_ID_MAX_CHARS,
    CONTENT_MAX_CHARS,
    CURSOR_MAX_CHARS,
    MARK_READ_MAX_IDS,
    UNREAD_DEFAULT_LIMIT,
    UNREAD_MAX_LIMIT,
    format_timestamp,
)

__all__ = [
    "ACK_ID_MAX_CHARS",
    "CONTENT_MAX_CHARS",
    "CURSOR_MAX_CHARS",
    "MARK_READ_MAX_IDS",
    "UNREAD_DEFAULT_LIMIT",
    "UNREAD_MAX_LIMIT",
    "USER_ID_MAX",
    "AckFrame",
    "ClientFrame",
    "MarkReadBody",
    "MarkReadRequest",
    "Message",
    "MessageFrame",
    "PingFrame",
    "PongFrame",
    "ReadFrame",
    "ReadReceiptFrame",
    "RecallFrame",
    "SendFrame",
    "UnreadPageBody",
    "UnreadRequest",
    "format_timestamp",
]
