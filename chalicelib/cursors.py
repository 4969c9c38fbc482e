"""Opaque keyset cursors: URL-safe text a client hands back for the next page.

Unread pages continue after (created_at, message id) -- the v1 format, so a cursor
issued before an upgrade still works; conversation lists after (last activity,
conversation id). A cursor that does not decode is a 400, never a server error.
"""

from __future__ import annotations

import base64
import binascii
import struct
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from chalicelib.chat.domain import ConversationId
from chalicelib.chat.ports import ListCursor, UnreadCursor
from chalicelib.errors import BadRequest

_UNREAD = struct.Struct(">q12s")  # created_at in ms, then the ObjectId's 12 bytes
_MS = struct.Struct(">q")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def as_utc(value: datetime) -> datetime:
    """BSON dates are UTC; a client without tz_aware hands them back naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ms(value: datetime) -> int:
    return (as_utc(value) - _EPOCH) // _ONE_MS  # integer arithmetic: no float rounding


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bytes(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def encode_unread(cursor: UnreadCursor) -> str:
    return _text(_UNREAD.pack(_ms(cursor.created_at), ObjectId(cursor.message_id).binary))


def decode_unread(cursor: str) -> UnreadCursor:
    try:
        ms, oid = _UNREAD.unpack(_bytes(cursor))
        return UnreadCursor(_EPOCH + ms * _ONE_MS, str(ObjectId(oid)))
    except (binascii.Error, struct.error, ValueError, OverflowError) as exc:
        raise BadRequest("invalid cursor") from exc


def encode_list(cursor: ListCursor) -> str:
    return _text(_MS.pack(_ms(cursor.last_at)) + cursor.conversation.encode())


def decode_list(cursor: str) -> ListCursor:
    try:
        raw = _bytes(cursor)
        (ms,) = _MS.unpack(raw[: _MS.size])
        conversation = str(ConversationId.parse(raw[_MS.size :].decode("ascii")))
        return ListCursor(_EPOCH + ms * _ONE_MS, conversation)
    except (binascii.Error, struct.error, ValueError, OverflowError, BadRequest) as exc:
        raise BadRequest("invalid cursor") from exc
