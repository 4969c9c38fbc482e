"""REST request and response bodies. Requests refuse unknown keys (a 400), so no stray
operator can hide in one."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from chalicelib.models.frames import Target
from chalicelib.models.messages import ConversationMessage, LastMessage, Message
from chalicelib.models.types import (
    UNREAD_DEFAULT_LIMIT,
    UNREAD_MAX_LIMIT,
    AckId,
    Content,
    ConversationIdText,
    Cursor,
    GroupId,
    GroupName,
    MessageIdHex,
    MessageIds,
    MsgType,
    Seq,
    Timestamp,
    UserId,
    UserIds,
)

CONVERSATIONS_MAX_LIMIT = 100
CONVERSATIONS_DEFAULT_LIMIT = 20
HISTORY_MAX_LIMIT = 200
HISTORY_DEFAULT_LIMIT = 50


class RequestBody(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Reply(BaseModel):
    """A 200 body. Every field is always sent (defaults included), and the JSON schema
    of a reply (docs/openapi.yaml) says so."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class ErrorBody(Reply):
    """Every refusal, whatever its status: the reason, never the refused value."""

    error: str


# --- v1 -----------------------------------------------------------------------------


class UnreadRequest(RequestBody):
    user_id: UserId | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=UNREAD_MAX_LIMIT)] = UNREAD_DEFAULT_LIMIT
    cursor: Cursor | None = None


class MarkReadRequest(RequestBody):
    user_id: UserId | None = None
    message_ids: MessageIds


class UnreadPageBody(Reply):
    """A page of unread messages; `next_cursor` is null on the last page."""

    messages: list[Message]
    total: int
    next_cursor: str | None


class MarkReadBody(Reply):
    """How many messages changed to read."""

    success: bool = True
    message: str = "marked as read"
    updated: int


# --- v1.1 requests ----------------------------------------------------------------------


class SendRequest(Target, RequestBody):
    content: Content
    msg_type: MsgType = 1
    ack_id: AckId


class MessageRef(RequestBody):
    message_id: MessageIdHex


class ConversationsRequest(RequestBody):
    limit: Annotated[StrictInt, Field(ge=1, le=CONVERSATIONS_MAX_LIMIT)] = (
        CONVERSATIONS_DEFAULT_LIMIT
    )
    cursor: Cursor | None = None


class HistoryRequest(RequestBody):
    conversation_id: ConversationIdText
    before_seq: Seq | None = None
    after_seq: Annotated[StrictInt, Field(ge=0)] | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=HISTORY_MAX_LIMIT)] = HISTORY_DEFAULT_LIMIT

    @model_validator(mode="after")
    def _one_direction(self) -> HistoryRequest:
        if self.before_seq is not None and self.after_seq is not None:
            raise ValueError("give `before_seq` or `after_seq`, not both")
        return self


class ConversationReadRequest(RequestBody):
    conversation_id: ConversationIdText
    seq: Seq | None = None


class GroupCreateRequest(RequestBody):
    name: GroupName
    members: Annotated[list[UserId], Field(max_length=1000)] = []


class GroupRef(RequestBody):
    group_id: GroupId


class GroupMembersRequest(RequestBody):
    group_id: GroupId
    user_ids: UserIds


class NoFields(RequestBody):
    pass


# --- v1.1 responses ---------------------------------------------------------------------


class SendBody(Reply):
    """The fields of the `ack` frame a WebSocket sender gets, without its `type`."""

    ack_id: str
    message_id: str
    created_at: Timestamp
    duplicate: bool
    conversation_id: str
    seq: int


class HistoryBody(Reply):
    """A page of a conversation's messages in seq order, and both read positions."""

    conversation_id: str
    messages: list[ConversationMessage]
    has_more: bool
    max_seq: int
    read_seq: int
    peer_read_seq: int | None = None


class ConversationEntry(Reply):
    """One conversation of the caller, with its last message and counts."""

    conversation_id: str
    kind: str
    peer: int | None = None
    group_id: int | None = None
    name: str | None = None
    last_message: LastMessage | None
    last_activity_at: Timestamp | None
    max_seq: int
    read_seq: int
    unread_count: int
    peer_read_seq: int | None = None


class ConversationsBody(Reply):
    """A page of conversations; `next_cursor` is null on the last page."""

    conversations: list[ConversationEntry]
    next_cursor: str | None


class ConversationReadBody(Reply):
    """The caller's read position and unread count after the change."""

    success: bool = True
    conversation_id: str
    read_seq: int
    unread_count: int
    updated: int


class RecallBody(Reply):
    """The recalled message's place and when it was recalled."""

    success: bool = True
    message_id: str
    conversation_id: str
    seq: int
    recalled_at: Timestamp


class ReceiptsBody(Reply):
    """Who of the message's recipients has read it."""

    message_id: str
    conversation_id: str
    seq: int
    recipients: int
    read_count: int
    read_by: list[int]


class GroupBody(Reply):
    """A group, with the caller's `role` in it (`owner` or `member`)."""

    group_id: int
    conversation_id: str
    name: str
    owner: int
    member_count: int
    created_at: Timestamp
    role: str | None = None


class GroupReply(Reply):
    """The group as it is now."""

    group: GroupBody


class GroupsBody(Reply):
    """The caller's groups, by name."""

    groups: list[GroupBody]


class MemberBody(Reply):
    """A member of a group and how far they have read."""

    user_id: int
    role: str
    joined_at: Timestamp | None
    read_seq: int


class MembersBody(Reply):
    """A group's members, in joining order."""

    group_id: int
    conversation_id: str
    owner: int
    members: list[MemberBody]


class LeaveBody(Reply):
    """The group the caller left."""

    success: bool = True
    group_id: int
