"""WebSocket frames: client -> server (discriminated on `action`), server -> client.

Unknown keys in a client frame are ignored (a spoofed `from` is never stored: the
sender is the connection's user); every known key is checked strictly.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)

from chalicelib.chat.domain import GROUP_ID_MAX, StoredMessage
from chalicelib.models.messages import Message
from chalicelib.models.types import (
    AckId,
    Content,
    ConversationIdText,
    MessageIdHex,
    MessageIds,
    MsgType,
    RequestId,
    Seq,
    Timestamp,
    UserId,
)


class ClientModel(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")


class Target(ClientModel):
    """`to` (a user) or `group_id` (a group): exactly one. `group_id: 0` means none,
    as v1 clients send it beside `to`."""

    to: UserId | None = None
    group_id: StrictInt | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Target:
        group = self.group_id not in (None, 0)
        if group and self.to is not None:
            raise ValueError("give `to` or `group_id`, not both")
        if group and not 1 <= (self.group_id or 0) <= GROUP_ID_MAX:
            raise ValueError("`group_id` is an integer from 1 to 2^53-1")
        if not group and self.to is None:
            raise ValueError("`to` (a user id) or `group_id` is required")
        return self

    @property
    def group(self) -> int | None:
        return self.group_id or None


class SendFrame(Target):
    action: Literal["send"]
    content: Content
    msg_type: MsgType = 1
    ack_id: AckId
    # "Every client frame may carry `request_id` (1..64 chars)": checked as on the others.
    request_id: RequestId | None = None


class PingFrame(ClientModel):
    action: Literal["ping"]
    request_id: RequestId | None = None


class ReadFrame(ClientModel):
    """v1: `message_ids`; v1.1: `conversation_id` (and `seq`, default: everything)."""

    action: Literal["read"]
    message_ids: MessageIds | None = None
    conversation_id: ConversationIdText | None = None
    seq: Seq | None = None
    request_id: RequestId | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ReadFrame:
        if (self.message_ids is None) == (self.conversation_id is None):
            raise ValueError("give `message_ids` or `conversation_id`")
        if self.seq is not None and self.conversation_id is None:
            raise ValueError("`seq` goes with `conversation_id`")
        return self


class RecallFrame(ClientModel):
    action: Literal["recall"]
    message_id: MessageIdHex
    request_id: RequestId | None = None


class AuthFrame(ClientModel):
    """v1.1: a fresh token for this connection (renewal without reconnecting)."""

    action: Literal["auth"]
    token: Annotated[StrictStr, StringConstraints(min_length=1, max_length=8192)]
    request_id: RequestId | None = None


ClientFrame = Annotated[
    SendFrame | PingFrame | ReadFrame | RecallFrame | AuthFrame, Field(discriminator="action")
]
ACTIONS = ("send", "ping", "read", "recall", "auth")


# --- server -> client ------------------------------------------------------------------


class ServerFrame(BaseModel):
    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)

    def encode(self) -> bytes:
        return json.dumps(self.wire(), separators=(",", ":"), ensure_ascii=False).encode()


class AckFrame(ServerFrame):
    type: Literal["ack"] = "ack"
    ack_id: str
    message_id: str
    created_at: Timestamp
    duplicate: bool
    conversation_id: str
    seq: int

    @classmethod
    def of(cls, message: StoredMessage, duplicate: bool) -> AckFrame:
        return cls(
            ack_id=message.ack_id,
            message_id=message.id,
            created_at=message.created_at,
            duplicate=duplicate,
            conversation_id=str(message.conversation),
            seq=message.seq,
        )


class MessageFrame(ServerFrame):
    """`message` is contract section 4's object exactly; its place rides beside it."""

    type: Literal["message"] = "message"
    message: Message
    conversation_id: str
    seq: int

    @classmethod
    def of(cls, message: StoredMessage) -> MessageFrame:
        return cls(
            message=Message.of(message),
            conversation_id=str(message.conversation),
            seq=message.seq,
        )


class PongFrame(ServerFrame):
    type: Literal["pong"] = "pong"


class DoneFrame(ServerFrame):
    """The answer to a frame with nothing else to say, where every frame is answered
    (a two-way `$default` route)."""

    type: Literal["done"] = "done"
    action: str
    request_id: str | None = None


class AuthenticatedFrame(ServerFrame):
    type: Literal["authenticated"] = "authenticated"
    user_id: int
    expires_at: Timestamp


class ReadReceiptFrame(ServerFrame):
    type: Literal["read"] = "read"
    message_ids: list[str]
    by: int
    conversation_id: str
    read_seq: int


class RecalledFrame(ServerFrame):
    type: Literal["recalled"] = "recalled"
    message_id: str
    conversation_id: str
    seq: int
    by: int
    recalled_at: Timestamp


GroupEvent = Literal["created", "members_added", "members_removed", "member_left"]


class GroupFrame(ServerFrame):
    type: Literal["group"] = "group"
    event: GroupEvent
    group_id: int
    conversation_id: str
    name: str
    by: int
    user_ids: list[int]
