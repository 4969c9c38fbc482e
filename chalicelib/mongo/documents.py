"""The MongoDB documents, their indexes, and their mapping to the domain values.

    messages       _id, conv, seq, from, to, group_id, content, msg_type, ack_id,
                   status (0 active, 2 recalled, 3 void), created_at, updated_at
    conversations  _id (= conversation id), kind, members [user ids], max_seq,
                   last_at, created_at, updated_at; groups also name, owner, version
    members        _id "<conversation>|<user>", conv, user, kind, role, read_seq,
                   extra [seqs], read_at, joined_seq, joined_at, max_seq, last_at,
                   last {preview}, peer_read_seq, name, updated_at

Every value placed in a filter is checked here to be a scalar of the right type, as a
last line of defence behind the request models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from chalicelib.chat.domain import (
    USER_ID_MAX,
    ConversationId,
    Group,
    Kind,
    Membership,
    MessageState,
    Preview,
    ReadState,
    Role,
    StoredMessage,
)
from chalicelib.cursors import as_utc
from chalicelib.errors import BadRequest

Document = dict[str, Any]

MESSAGES, CONVERSATIONS, MEMBERS = "messages", "conversations", "members"

INDEXES: dict[str, list[IndexModel]] = {
    MESSAGES: [
        # A retried (sender, ack_id) can never store twice.
        IndexModel(
            [("from", ASCENDING), ("ack_id", ASCENDING)], name="from_1_ack_id_1", unique=True
        ),
        # History and ranges: equality on conv, range on seq. Unique: one message a seq.
        IndexModel([("conv", ASCENDING), ("seq", ASCENDING)], name="conv_1_seq_1", unique=True),
        # Unread across conversations: per conversation, a range from the read position
        # in (created_at, _id) order, so branches merge in the order of the page.
        IndexModel(
            [("conv", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
            name="conv_1_created_at_1__id_1",
        ),
    ],
    MEMBERS: [
        # A user's conversation list, most recent activity first (keyset on both keys).
        IndexModel(
            [("user", ASCENDING), ("last_at", DESCENDING), ("conv", ASCENDING)],
            name="user_1_last_at_-1_conv_1",
        ),
        # A conversation's members: fan-out on send, receipts, member lists.
        IndexModel([("conv", ASCENDING), ("user", ASCENDING)], name="conv_1_user_1"),
    ],
}


def require_user_id(value: object) -> int:
    if type(value) is not int or not 1 <= value <= USER_ID_MAX:
        raise BadRequest("user ids are integers from 1 to 2^63-1")
    return value


def object_id(value: object) -> ObjectId:
    if isinstance(value, ObjectId):
        return value
    if type(value) is not str or len(value) != 24:
        raise BadRequest("message ids are 24 hexadecimal characters")
    try:
        return ObjectId(value)
    except Exception as exc:  # bson raises InvalidId (and TypeError) for bad hex
        raise BadRequest("message ids are 24 hexadecimal characters") from exc


def member_key(conversation: ConversationId | str, user: int) -> str:
    return f"{conversation}|{require_user_id(user)}"


def stored_message(doc: Document) -> StoredMessage:
    return StoredMessage(
        id=str(doc["_id"]),
        conversation=ConversationId.parse(doc["conv"]),
        seq=int(doc["seq"]),
        sender=int(doc["from"]),
        content=doc.get("content", ""),
        msg_type=int(doc.get("msg_type", 1)),
        ack_id=doc["ack_id"],
        state=MessageState(doc.get("status", 0)),
        created_at=as_utc(doc["created_at"]),
        updated_at=as_utc(doc["updated_at"]),
    )


def message_document(
    message_id: ObjectId,
    conversation: ConversationId,
    seq: int,
    sender: int,
    to: int,
    **fields: Any,
) -> Document:
    return {
        "_id": message_id,
        "conv": str(conversation),
        "seq": seq,
        "from": sender,
        "to": to,
        "group_id": conversation.group_id,
        **fields,
    }


def preview_document(preview: Preview) -> Document:
    # `seq` first: `$max` compares documents field by field in order, so the copy of a
    # later message always wins, whatever order concurrent fan-outs land in.
    return {
        "seq": preview.seq,
        "id": preview.message_id,
        "from": preview.sender,
        "msg_type": preview.msg_type,
        "status": int(preview.state),
        "content": preview.content,
        "truncated": preview.truncated,
        "created_at": preview.created_at,
    }


def preview(doc: Document | None) -> Preview | None:
    if not doc:
        return None
    return Preview(
        message_id=doc["id"],
        seq=int(doc["seq"]),
        sender=int(doc["from"]),
        msg_type=int(doc.get("msg_type", 1)),
        state=MessageState(doc.get("status", 0)),
        content=doc.get("content", ""),
        truncated=bool(doc.get("truncated", False)),
        created_at=as_utc(doc["created_at"]),
    )


def read_state(doc: Document) -> ReadState:
    read_at = doc.get("read_at")
    # Writers that cannot compute (a send's own read, a recall) only add to `extra`;
    # every reader sees the position settled.
    return ReadState(
        read_seq=int(doc.get("read_seq", 0)),
        extra=tuple(sorted(int(s) for s in doc.get("extra", ()))),
        read_at=as_utc(read_at) if read_at else None,
    ).settled()


def read_fields(state: ReadState) -> Document:
    return {"read_seq": state.read_seq, "extra": list(state.extra), "read_at": state.read_at}


def member_document(
    conversation: ConversationId,
    user: int,
    *,
    at: datetime,
    role: Role = Role.MEMBER,
    joined_seq: int = 0,
    read_at: datetime | None = None,
    name: str = "",
) -> Document:
    """A new member: everything up to `joined_seq` counts as read."""
    return {
        "_id": member_key(conversation, user),
        "conv": str(conversation),
        "user": user,
        "kind": str(conversation.kind),
        "role": str(role),
        "read_seq": joined_seq,
        "extra": [],
        "read_at": read_at,
        "joined_seq": joined_seq,
        "joined_at": at,
        "max_seq": joined_seq,
        "last_at": at,
        "last": None,
        "peer_read_seq": 0,
        "name": name,
        "updated_at": at,
    }


def membership(doc: Document) -> Membership:
    joined_at, last_at = doc.get("joined_at"), doc.get("last_at")
    return Membership(
        conversation=ConversationId.parse(doc["conv"]),
        user=int(doc["user"]),
        role=Role(doc.get("role", Role.MEMBER)),
        read=read_state(doc),
        joined_seq=int(doc.get("joined_seq", 0)),
        joined_at=as_utc(joined_at) if joined_at else None,
        max_seq=int(doc.get("max_seq", 0)),
        last_at=as_utc(last_at) if last_at else None,
        peer_read_seq=int(doc.get("peer_read_seq", 0)),
        name=doc.get("name", ""),
    )


def group(doc: Document) -> Group:
    conversation = ConversationId.parse(doc["_id"])
    if conversation.kind is not Kind.GROUP:
        raise ValueError(f"{doc['_id']} is not a group")
    return Group(
        group_id=conversation.group_id,
        name=doc.get("name", ""),
        owner=int(doc["owner"]),
        members=tuple(int(u) for u in doc.get("members", ())),
        created_at=as_utc(doc["created_at"]),
        max_seq=int(doc.get("max_seq", 0)),
        version=int(doc.get("version", 0)),
    )
