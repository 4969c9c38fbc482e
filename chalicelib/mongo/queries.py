"""The read queries, spelled out as values so their shapes are pinned without a server.

FerretDB's SQLite backend scans for everything but `_id` equality, so it cannot show
that a page costs the same at any collection size; MongoDB can, *if* each query is
equality on an index prefix, a range on the next key and a limit -- never a skip.
tests/unit/test_store_queries.py holds every query here to its index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from pymongo import ASCENDING, DESCENDING

from chalicelib.chat.domain import ConversationId, Membership, MessageState
from chalicelib.chat.ports import ListCursor, UnreadCursor
from chalicelib.mongo.documents import object_id, require_user_id

Document = dict[str, Any]
UNREAD_SORT: list[tuple[str, int]] = [("created_at", ASCENDING), ("_id", ASCENDING)]
LIST_SORT: list[tuple[str, int]] = [("last_at", DESCENDING), ("conv", ASCENDING)]


class Query(NamedTuple):
    """A find() spelled out."""

    filter: Document
    sort: list[tuple[str, int]]
    limit: int


def unread_query(
    user: int, memberships: Sequence[Membership], limit: int, cursor: UnreadCursor | None
) -> Query:
    """One `$or` branch per conversation with unread messages: equality on `conv`, a
    range on (created_at, _id) from the member's read position (or the cursor), and
    the seqs the member has not read. Each branch comes sorted by the page's sort keys
    off index conv_1_created_at_1__id_1, so MongoDB merges them and stops at `limit`."""
    me = require_user_id(user)
    branches: list[Document] = []
    for m in memberships:
        floor = max(m.read.read_seq, m.joined_seq)
        seq: Document = {"$gt": floor}
        if m.read.extra:
            seq["$nin"] = list(m.read.extra)
        base: Document = {"conv": str(m.conversation), "seq": seq}
        read_at = m.read.read_at
        if cursor is not None and (read_at is None or read_at <= cursor.created_at):
            after = object_id(cursor.message_id)
            branches.append({**base, "created_at": {"$gt": cursor.created_at}})
            branches.append({**base, "created_at": cursor.created_at, "_id": {"$gt": after}})
        else:
            branches.append({**base, "created_at": {"$gte": read_at}} if read_at else base)
    return Query(
        filter={"$or": branches, "status": int(MessageState.ACTIVE), "from": {"$ne": me}},
        sort=UNREAD_SORT,
        limit=limit,
    )


def history_query(
    conversation: ConversationId, floor: int, after: int | None, before: int | None, limit: int
) -> Query:
    """Index conv_1_seq_1: equality on conv, a seq range, sorted along seq."""
    seq: Document = {"$gt": max(floor, after or 0)}
    if before is not None:
        seq["$lt"] = before
    newest_first = before is not None or after is None
    return Query(
        filter={
            "conv": str(conversation),
            "seq": seq,
            "status": {"$in": [int(MessageState.ACTIVE), int(MessageState.RECALLED)]},
        },
        sort=[("seq", DESCENDING if newest_first else ASCENDING)],
        limit=limit,
    )


def list_query(user: int, limit: int, cursor: ListCursor | None) -> Query:
    """Index user_1_last_at_-1_conv_1: equality on user, keyset on (last_at, conv)."""
    flt: Document = {"user": require_user_id(user)}
    if cursor is not None:
        flt["$or"] = [
            {"last_at": {"$lt": cursor.last_at}},
            {"last_at": cursor.last_at, "conv": {"$gt": cursor.conversation}},
        ]
    return Query(filter=flt, sort=LIST_SORT, limit=limit)
