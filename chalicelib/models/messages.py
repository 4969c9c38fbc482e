"""The message object: contract section 4 exactly (v1), and with its place in the
conversation (v1.1: `conversation_id`, `seq`) where v1.1 routes return messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.chat.domain import MessageState, Preview, StoredMessage
from chalicelib.models.types import Timestamp

STATUS_UNREAD = 0
STATUS_READ = 1
STATUS_RECALLED = 2


class Message(BaseModel):
    """The message object of contract section 4 -- these fields and no others."""

    model_config = ConfigDict(
        frozen=True, populate_by_name=True, json_schema_serialization_defaults_required=True
    )

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

    @classmethod
    def of(cls, message: StoredMessage, read: bool = False) -> Message:
        """`read`: whether the message's addressee has read it (ignored once recalled)."""
        status = _status(message.recalled, read)
        return cls(
            id=message.id,
            sender=message.sender,
            to=message.to,
            group_id=message.group_id,
            content=message.content,
            msg_type=message.msg_type,
            ack_id=message.ack_id,
            status=status,
            created_at=message.created_at,
            updated_at=message.updated_at,
        )


class ConversationMessage(Message):
    """v1.1: a message object that also says where it belongs."""

    conversation_id: str
    seq: int

    @classmethod
    def placed(cls, message: StoredMessage, read: bool = False) -> ConversationMessage:
        base = Message.of(message, read).model_dump()
        return cls(**base, conversation_id=str(message.conversation), seq=message.seq)


class LastMessage(BaseModel):
    """A conversation list's last message: at most 200 characters of its content."""

    id: str
    seq: int
    sender: int = Field(serialization_alias="from")
    msg_type: int
    status: int
    content: str
    content_truncated: bool
    created_at: Timestamp

    @classmethod
    def of(cls, preview: Preview, read: bool) -> LastMessage:
        recalled = preview.state is MessageState.RECALLED
        return cls(
            id=preview.message_id,
            seq=preview.seq,
            sender=preview.sender,
            msg_type=preview.msg_type,
            status=_status(recalled, read),
            content=preview.content,
            content_truncated=preview.truncated,
            created_at=preview.created_at,
        )


def _status(recalled: bool, read: bool) -> int:
    if recalled:
        return STATUS_RECALLED
    return STATUS_READ if read else STATUS_UNREAD
