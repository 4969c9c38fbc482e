"""Typed models for everything that crosses the wire: client frames, REST bodies, replies.

Client input is parsed here, strictly (no coercion of "2" to 2, no bools as ints, no
objects where scalars belong), so nothing a client writes reaches MongoDB unvalidated.
Server output is built from models too, so the field names of contract.md live in one
place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)

USER_ID_MAX = 2**63 - 1
CONTENT_MAX_CHARS = 8000
ACK_ID_MAX_CHARS = 64
MARK_READ_MAX_IDS = 1000
UNREAD_MAX_LIMIT = 500
UNREAD_DEFAULT_LIMIT = 100
CURSOR_MAX_CHARS = 128


def format_timestamp(value: datetime) -> str:
    """UTC, millisecond precision, `Z` suffix: 2026-11-27T08:10:21.123Z."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


UserId = Annotated[StrictInt, Field(ge=1, le=USER_ID_MAX)]
MessageIdHex = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$", to_lower=True)]
AckId = Annotated[StrictStr, StringConstraints(min_length=1, max_length=ACK_ID_MAX_CHARS)]
Content = Annotated[StrictStr, StringConstraints(min_length=1, max_length=CONTENT_MAX_CHARS)]
MsgType = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
Cursor = Annotated[StrictStr, StringConstraints(min_length=1, max_length=CURSOR_MAX_CHARS)]
Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str)]


class _ClientModel(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True)


# --- WebSocket client -> server frames, discriminated on `action` -------------------


class SendFrame(_ClientModel):
    # Unknown keys (a spoofed `from`, client metadata) are ignored, never stored.
    model_config = ConfigDict(extra="ignore")

    action: Literal["send"]
    to: UserId | None = None
    group_id: StrictInt | None = None
    content: Content
    msg_type: MsgType = 1
    ack_id: AckId

    @model_validator(mode="after")
    def _one_recipient(self) -> SendFrame:
        if self.group_id not in (None, 0):
            raise ValueError("group messages are not supported yet; send to a user with `to`")
        if self.to is None:
            raise ValueError("`to` (a user id) is required")
        return self


class PingFrame(_ClientModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal["ping"]


class ReadFrame(_ClientModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal["read"]
    message_ids: Annotated[list[MessageIdHex], Field(min_length=1, max_length=MARK_READ_MAX_IDS)]


ClientFrame = Annotated[SendFrame | PingFrame | ReadFrame, Field(discriminator="action")]


# --- REST bodies: unknown keys are refused, so no stray operator can hide in one ------


class UnreadRequest(_ClientModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=UNREAD_MAX_LIMIT)] = UNREAD_DEFAULT_LIMIT
    cursor: Cursor | None = None


class MarkReadRequest(_ClientModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId | None = None
    message_ids: Annotated[list[MessageIdHex], Field(min_length=1, max_length=MARK_READ_MAX_IDS)]


# --- Server output -------------------------------------------------------------------


class Message(BaseModel):
    """The message object of contract section 4."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str
    sender: int = Field(serialization_alias="from", validation_alias="from")
    to: int
    group_id: int = 0
    content: str
    msg_type: int = 1
    ack_id: str
    status: int = 0
    created_at: Timestamp
    updated_at: Timestamp

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class AckFrame(BaseModel):
    type: Literal["ack"] = "ack"
    ack_id: str
    message_id: str
    created_at: Timestamp
    duplicate: bool


class MessageFrame(BaseModel):
    type: Literal["message"] = "message"
    message: Message

    def wire(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message.wire()}


class PongFrame(BaseModel):
    type: Literal["pong"] = "pong"


class ReadReceiptFrame(BaseModel):
    type: Literal["read"] = "read"
    message_ids: list[str]
    by: int


class UnreadPageBody(BaseModel):
    messages: list[Message]
    total: int
    next_cursor: str | None

    def wire(self) -> dict[str, Any]:
        return {
            "messages": [m.wire() for m in self.messages],
            "total": self.total,
            "next_cursor": self.next_cursor,
        }


class MarkReadBody(BaseModel):
    success: bool = True
    message: str = "marked as read"
    updated: int
