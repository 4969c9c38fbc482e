"""Field types and limits shared by every frame and body.

Client input is parsed strictly (no coercion of "2" to 2, no bools as ints, no objects
where scalars belong), so nothing a client writes reaches MongoDB unvalidated.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    StrictInt,
    StrictStr,
    StringConstraints,
    WithJsonSchema,
)

from chalicelib.chat.domain import CONVERSATION_PATTERN, GROUP_ID_MAX, USER_ID_MAX, ConversationId
from chalicelib.errors import BadRequest

CONTENT_MAX_CHARS = 8000
ACK_ID_MAX_CHARS = 64
REQUEST_ID_MAX_CHARS = 64
MARK_READ_MAX_IDS = 1000
UNREAD_MAX_LIMIT = 500
UNREAD_DEFAULT_LIMIT = 100
CURSOR_MAX_CHARS = 128
GROUP_NAME_MAX_CHARS = 100
# Requests name at most this many users at once (a group's size is a setting, below it).
MEMBERS_MAX_PER_REQUEST = 1000
SEQ_MAX = 2**53 - 1


def format_timestamp(value: datetime) -> str:
    """UTC, millisecond precision, `Z` suffix: 2026-11-27T08:10:21.123Z."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _group_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("name must not be blank")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise ValueError("name must not contain control characters")
    return value


def _conversation_id(value: str) -> str:
    try:
        return str(ConversationId.parse(value))
    except BadRequest as exc:
        raise ValueError(exc.message) from None


UserId = Annotated[StrictInt, Field(ge=1, le=USER_ID_MAX)]
GroupId = Annotated[StrictInt, Field(ge=1, le=GROUP_ID_MAX)]
Seq = Annotated[StrictInt, Field(ge=1, le=SEQ_MAX)]
MessageIdHex = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$", to_lower=True)]
AckId = Annotated[StrictStr, StringConstraints(min_length=1, max_length=ACK_ID_MAX_CHARS)]
RequestId = Annotated[StrictStr, StringConstraints(min_length=1, max_length=REQUEST_ID_MAX_CHARS)]
Content = Annotated[StrictStr, StringConstraints(min_length=1, max_length=CONTENT_MAX_CHARS)]
MsgType = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
Cursor = Annotated[StrictStr, StringConstraints(min_length=1, max_length=CURSOR_MAX_CHARS)]
# Checked by ConversationId.parse (its refusals name the rule); the pattern documents it.
ConversationIdText = Annotated[
    StrictStr,
    StringConstraints(max_length=64),
    AfterValidator(_conversation_id),
    Field(json_schema_extra={"pattern": CONVERSATION_PATTERN}),
]
GroupName = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=GROUP_NAME_MAX_CHARS),
    AfterValidator(_group_name),
]
MessageIds = Annotated[list[MessageIdHex], Field(min_length=1, max_length=MARK_READ_MAX_IDS)]
UserIds = Annotated[list[UserId], Field(min_length=1, max_length=MEMBERS_MAX_PER_REQUEST)]
Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
