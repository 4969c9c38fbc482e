"""The store's read queries, pinned without a server.

FerretDB's SQLite backend scans for everything but `_id` equality, so it cannot show
that a page costs the same at any collection size; MongoDB can, *if* each query is
equality on an index prefix, a range on the next key, sorted along the index, with a
limit -- never a skip. These tests hold every query to that shape and its index.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId

from chalicelib.chat.domain import ConversationId, Membership, ReadState
from chalicelib.chat.ports import ListCursor, UnreadCursor
from chalicelib.errors import BadRequest
from chalicelib.mongo.documents import INDEXES, MEMBERS, MESSAGES
from chalicelib.mongo.queries import history_query, list_query, unread_query

TS = datetime(2026, 11, 27, 8, 10, 21, 123000, tzinfo=UTC)
OID = "6745f0c2a1b2c3d4e5f60718"


def index_keys(collection: str, name: str) -> list[tuple[str, int]]:
    (index,) = [i for i in INDEXES[collection] if i.document["name"] == name]
    return list(index.document["key"].items())


def member(conversation: str, read: ReadState, joined: int = 0) -> Membership:
    return Membership(ConversationId.parse(conversation), 42, read=read, joined_seq=joined)


def test_unread_is_one_branch_per_conversation_on_the_conversation_time_index() -> None:
    keys = index_keys(MESSAGES, "conv_1_created_at_1__id_1")
    q = unread_query(
        42,
        [
            member("d:7:42", ReadState(3, (5, 6), TS)),
            member("g:9", ReadState(10), joined=12),
        ],
        101,
        None,
    )
    assert q.filter == {
        "$or": [
            {"conv": "d:7:42", "seq": {"$gt": 3, "$nin": [5, 6]}, "created_at": {"$gte": TS}},
            {"conv": "g:9", "seq": {"$gt": 12}},
        ],
        "status": 0,
        "from": {"$ne": 42},
    }
    assert q.sort == keys[1:]  # each branch: equality on conv, then the sort keys
    for branch in q.filter["$or"]:
        assert next(iter(branch)) == keys[0][0]
    assert q.limit == 101


def test_unread_after_a_cursor_is_a_keyset_range_in_every_branch_never_a_skip() -> None:
    cursor = UnreadCursor(TS, OID)
    earlier = datetime(2026, 11, 1, tzinfo=UTC)
    later = datetime(2026, 12, 1, tzinfo=UTC)
    q = unread_query(
        42,
        [member("d:7:42", ReadState(3, (), earlier)), member("d:8:42", ReadState(1, (), later))],
        10,
        cursor,
    )
    assert q.filter["$or"] == [
        # the read position is older than the cursor: continue after the cursor
        {"conv": "d:7:42", "seq": {"$gt": 3}, "created_at": {"$gt": TS}},
        {"conv": "d:7:42", "seq": {"$gt": 3}, "created_at": TS, "_id": {"$gt": ObjectId(OID)}},
        # newer than the cursor: start at the read position
        {"conv": "d:8:42", "seq": {"$gt": 1}, "created_at": {"$gte": later}},
    ]
    assert "skip" not in q._fields


def test_history_is_a_seq_range_on_the_seq_index() -> None:
    keys = index_keys(MESSAGES, "conv_1_seq_1")
    newest = history_query(ConversationId.parse("g:9"), 4, None, None, 51)
    assert newest.filter == {"conv": "g:9", "seq": {"$gt": 4}, "status": {"$in": [0, 2]}}
    assert newest.sort == [("seq", -1)] and newest.limit == 51
    back = history_query(ConversationId.parse("g:9"), 0, None, 100, 51)
    assert back.filter["seq"] == {"$gt": 0, "$lt": 100} and back.sort == [("seq", -1)]
    forward = history_query(ConversationId.parse("g:9"), 4, 2, None, 51)
    assert forward.filter["seq"] == {"$gt": 4} and forward.sort == [("seq", 1)]
    assert [k for k, _ in keys] == ["conv", "seq"]


def test_conversation_list_is_a_keyset_on_the_member_activity_index() -> None:
    keys = index_keys(MEMBERS, "user_1_last_at_-1_conv_1")
    first = list_query(42, 21, None)
    assert first.filter == {"user": 42} and first.sort == keys[1:]
    after = list_query(42, 21, ListCursor(TS, "d:7:42"))
    assert after.filter == {
        "user": 42,
        "$or": [{"last_at": {"$lt": TS}}, {"last_at": TS, "conv": {"$gt": "d:7:42"}}],
    }


@pytest.mark.parametrize("bad", [0, -1, 2**63, True, "42", {"$gt": 0}, None])
def test_only_valid_user_ids_reach_a_filter(bad: object) -> None:
    with pytest.raises(BadRequest):
        list_query(bad, 10, None)  # type: ignore[arg-type]
    with pytest.raises(BadRequest):
        unread_query(bad, [], 10, None)  # type: ignore[arg-type]
