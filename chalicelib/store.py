"""MessageStore: messages in MongoDB -- save with idempotency, unread pages, mark-read.

Document shape (field names of the original design):
    _id, from, to, group_id, content, msg_type, ack_id, status, created_at, updated_at

Indexes:
    from_1_ack_id_1 (unique)  -- a retried (sender, ack_id) can never store twice
    to_1_status_1_created_at_1__id_1 -- equality on (to, status), then the sort keys,
        so an unread page is one index range scan whose cost does not grow with the
        number of unread or stored messages (keyset paging; never `skip`).

Every value placed in a filter is checked here to be a scalar of the right type, as a
last line of defence behind the request models.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from chalicelib.clock import Clock, utc_now_ms
from chalicelib.errors import BadRequest, Unavailable
from chalicelib.models import ACK_ID_MAX_CHARS, CONTENT_MAX_CHARS, USER_ID_MAX, Message

STATUS_UNREAD = 0
STATUS_READ = 1
STATUS_RECALLED = 2

UNREAD_SORT: list[tuple[str, int]] = [("created_at", ASCENDING), ("_id", ASCENDING)]
UNREAD_INDEX = IndexModel(
    [("to", ASCENDING), ("status", ASCENDING), *UNREAD_SORT],
    name="to_1_status_1_created_at_1__id_1",
)
IDEMPOTENCY_INDEX = IndexModel(
    [("from", ASCENDING), ("ack_id", ASCENDING)], name="from_1_ack_id_1", unique=True
)

Document = dict[str, Any]


@dataclass(frozen=True)
class NewMessage:
    sender: int
    to: int
    content: str
    ack_id: str
    msg_type: int = 1
    group_id: int = 0


class SaveResult(NamedTuple):
    message: Message
    duplicate: bool


class UnreadPage(NamedTuple):
    messages: list[Message]
    next_cursor: str | None


class Query(NamedTuple):
    """A find() spelled out, so its shape can be checked without a server."""

    filter: Document
    sort: list[tuple[str, int]]
    limit: int


def require_user_id(value: object) -> int:
    if type(value) is not int or not 1 <= value <= USER_ID_MAX:
        raise BadRequest("user ids are integers from 1 to 2^63-1")
    return value


def parse_message_id(value: object) -> ObjectId:
    if isinstance(value, ObjectId):
        return value
    if type(value) is not str or len(value) != 24:
        raise BadRequest("message ids are 24 hexadecimal characters")
    try:
        return ObjectId(value)
    except Exception as exc:  # bson raises InvalidId (and TypeError) for bad hex
        raise BadRequest("message ids are 24 hexadecimal characters") from exc


_CURSOR = struct.Struct(">q12s")  # created_at in ms, then the ObjectId's 12 bytes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def as_utc(value: datetime) -> datetime:
    """BSON dates are UTC; a client without tz_aware hands them back naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def encode_cursor(created_at: datetime, message_id: ObjectId) -> str:
    ms = (as_utc(created_at) - _EPOCH) // _MS  # integer arithmetic: no float rounding
    return base64.urlsafe_b64encode(_CURSOR.pack(ms, message_id.binary)).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ms, oid = _CURSOR.unpack(raw)
        return _EPOCH + ms * _MS, ObjectId(oid)
    except (binascii.Error, struct.error, ValueError, OverflowError) as exc:
        raise BadRequest("invalid cursor") from exc


def unread_query(user: int, limit: int, cursor: str | None) -> Query:
    """The unread-page query: equality on (to, status), keyset range on the sort keys."""
    flt: Document = {"to": require_user_id(user), "status": STATUS_UNREAD}
    if cursor is not None:
        after_ts, after_id = decode_cursor(cursor)
        flt["$or"] = [
            {"created_at": {"$gt": after_ts}},
            {"created_at": after_ts, "_id": {"$gt": after_id}},
        ]
    return Query(filter=flt, sort=UNREAD_SORT, limit=limit + 1)


def to_message(doc: Document) -> Message:
    return Message(
        id=str(doc["_id"]),
        sender=doc["from"],
        to=doc["to"],
        group_id=doc.get("group_id", 0),
        content=doc["content"],
        msg_type=doc.get("msg_type", 1),
        ack_id=doc["ack_id"],
        status=doc["status"],
        created_at=as_utc(doc["created_at"]),
        updated_at=as_utc(doc["updated_at"]),
    )


def _check_new(new: NewMessage) -> None:
    require_user_id(new.sender)
    require_user_id(new.to)
    if type(new.ack_id) is not str or not 1 <= len(new.ack_id) <= ACK_ID_MAX_CHARS:
        raise BadRequest("ack_id must be a string of 1 to 64 characters")
    if type(new.content) is not str or not 1 <= len(new.content) <= CONTENT_MAX_CHARS:
        raise BadRequest("content must be a string of 1 to 8000 characters")
    if type(new.msg_type) is not int or type(new.group_id) is not int:
        raise BadRequest("msg_type and group_id must be integers")


_MESSAGE_OVERHEAD_BYTES = 320  # every field of a message object but its content, as JSON


def _fitting(docs: list[Document], max_bytes: int) -> int:
    """How many of `docs`, at least one, fit in `max_bytes` of JSON."""
    total = 0
    for count, doc in enumerate(docs):
        content = doc.get("content", "")
        total += _MESSAGE_OVERHEAD_BYTES + len(json.dumps(content, ensure_ascii=False).encode())
        if total > max_bytes and count > 0:
            return count
    return len(docs)


class MessageStore:
    def __init__(self, collection: Collection[Document], clock: Clock = utc_now_ms) -> None:
        self._messages = collection
        self._clock = clock

    def ensure_indexes(self) -> None:
        """Idempotent: creating an existing index with the same spec is a no-op."""
        try:
            # One call per index: FerretDB 1.24 drops the connection when a single
            # createIndexes names several indexes that all exist already.
            for index in (IDEMPOTENCY_INDEX, UNREAD_INDEX):
                self._messages.create_indexes([index])
        except PyMongoError as exc:
            raise Unavailable("message store unavailable") from exc

    def save(self, new: NewMessage) -> SaveResult:
        """Store a message durably; a repeated (sender, ack_id) returns the first one."""
        _check_new(new)
        now = self._clock()
        doc: Document = {
            "_id": ObjectId(),
            "from": new.sender,
            "to": new.to,
            "group_id": new.group_id,
            "content": new.content,
            "msg_type": new.msg_type,
            "ack_id": new.ack_id,
            "status": STATUS_UNREAD,
            "created_at": now,
            "updated_at": now,
        }
        try:
            self._messages.insert_one(doc)
            return SaveResult(to_message(doc), duplicate=False)
        except DuplicateKeyError:
            first = self._find_by_ack(doc["from"], new.ack_id)
            if first is None:  # the unique key holder vanished between the two calls
                raise Unavailable("message store unavailable") from None
            return SaveResult(to_message(first), duplicate=True)
        except PyMongoError as exc:
            raise Unavailable("message store unavailable") from exc

    def _find_by_ack(self, sender: int, ack_id: str) -> Document | None:
        try:
            return self._messages.find_one({"from": sender, "ack_id": ack_id})
        except PyMongoError as exc:
            raise Unavailable("message store unavailable") from exc

    def unread_page(
        self, user: int, limit: int, cursor: str | None = None, max_bytes: int | None = None
    ) -> UnreadPage:
        """Oldest-first unread messages to `user`; `next_cursor` is None on the last page.

        With `max_bytes`, the page stops early (but never empty) once the messages'
        JSON would pass that size, and `next_cursor` continues from there.
        """
        if type(limit) is not int or limit < 1:
            raise BadRequest("limit must be a positive integer")
        query = unread_query(user, limit, cursor)
        try:
            docs = list(self._messages.find(query.filter, sort=query.sort, limit=query.limit))
        except PyMongoError as exc:
            raise Unavailable("message store unavailable") from exc
        page = docs[:limit]
        if max_bytes is not None:
            page = page[: _fitting(page, max_bytes)]
        next_cursor = None
        if len(docs) > len(page):
            last = page[-1]
            next_cursor = encode_cursor(last["created_at"], last["_id"])
        return UnreadPage([to_message(d) for d in page], next_cursor)

    def mark_read(self, user: int, message_ids: list[str]) -> int:
        """Unread -> read on the caller's own messages only; returns how many changed.

        Every id is validated before anything is written, so one bad id changes nothing.
        """
        owner = require_user_id(user)
        ids = list(dict.fromkeys(parse_message_id(m) for m in message_ids))
        if not ids:
            return 0
        try:
            result = self._messages.update_many(
                {"_id": {"$in": ids}, "to": owner, "status": STATUS_UNREAD},
                {"$set": {"status": STATUS_READ, "updated_at": self._clock()}},
            )
        except PyMongoError as exc:
            raise Unavailable("message store unavailable") from exc
        return result.modified_count
