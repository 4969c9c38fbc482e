"""`make migrate` on a database as v1 left it: nothing lost, unread stays unread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.database import Database

from chalicelib.chat.browsing import History, UnreadMessages
from chalicelib.chat.domain import ConversationId, Draft
from chalicelib.store import MongoChatStore
from infra.deploy.migrate import V1_UNREAD_INDEX, migrate

Db = Database[dict[str, Any]]
T0 = datetime(2026, 11, 1, tzinfo=UTC)
A, B, C = 101, 202, 303


def v1_message(i: int, sender: int, to: int, status: int) -> dict[str, Any]:
    at = T0 + timedelta(seconds=i)
    return {
        "_id": ObjectId(),
        "from": sender,
        "to": to,
        "group_id": 0,
        "content": "" if status == 2 else f"v1 #{i}",
        "msg_type": 1,
        "ack_id": f"v1-{i}",
        "status": status,
        "created_at": at,
        "updated_at": at,
    }


@pytest.fixture
def v1_db(mongo_db: Db) -> tuple[Db, list[dict[str, Any]]]:
    # A and B talk both ways (some read, one recalled); C writes to A; A notes to self.
    plan = [
        (A, B, 1),
        (B, A, 1),
        (A, B, 0),
        (B, A, 0),
        (B, A, 2),
        (C, A, 0),
        (A, B, 0),
        (A, A, 0),
        (B, A, 0),
        (C, A, 1),
    ]
    docs = [v1_message(i, s, t, st) for i, (s, t, st) in enumerate(plan)]
    mongo_db["messages"].insert_many(docs)
    mongo_db["messages"].create_indexes(
        [
            IndexModel(
                [
                    ("to", ASCENDING),
                    ("status", ASCENDING),
                    ("created_at", ASCENDING),
                    ("_id", ASCENDING),
                ],
                name=V1_UNREAD_INDEX,
            )
        ]
    )
    return mongo_db, docs


def v1_unread(docs: list[dict[str, Any]], user: int) -> list[str]:
    """What v1's unread route returned: status 0, addressed to the user, oldest first."""
    mine = [d for d in docs if d["to"] == user and d["status"] == 0 and d["from"] != user]
    return [str(d["_id"]) for d in sorted(mine, key=lambda d: (d["created_at"], d["_id"]))]


def test_unread_history_and_counts_survive_the_migration(
    v1_db: tuple[Db, list[dict[str, Any]]],
) -> None:
    db, docs = v1_db
    report = migrate(db, datetime.now(UTC))
    assert (report.conversations, report.messages) == (3, len(docs))

    store = MongoChatStore(db)
    unread = UnreadMessages(store, store, 4 * 1024 * 1024)
    for user in (A, B, C):
        assert [m.id for m in unread(user, 100, None).items] == v1_unread(docs, user)
        counts = sum(s.membership.unread_count() for s in store.conversations(user, 10, None)[0])
        assert counts == len(v1_unread(docs, user))

    page = History(store, store, store)(A, ConversationId.direct(A, B), None, None, 50)
    pair = [d for d in docs if {d["from"], d["to"]} == {A, B}]
    assert [m.seq for m, _ in page.messages] == list(range(1, len(pair) + 1))
    assert [m.id for m, _ in page.messages] == [str(d["_id"]) for d in pair]
    assert [m.recalled for m, _ in page.messages] == [d["status"] == 2 for d in pair]
    assert [read for m, read in page.messages if not m.recalled] == [
        d["status"] == 1 for d in pair if d["status"] != 2
    ]
    assert V1_UNREAD_INDEX not in {i["name"] for i in db["messages"].list_indexes()}


def test_running_it_again_changes_nothing_and_sends_continue_the_numbering(
    v1_db: tuple[Db, list[dict[str, Any]]],
) -> None:
    db, docs = v1_db
    migrate(db, datetime.now(UTC))
    before = list(db["members"].find({}, sort=[("_id", 1)]))
    again = migrate(db, datetime.now(UTC))
    assert (again.conversations, again.messages) == (0, 0)
    assert list(db["members"].find({}, sort=[("_id", 1)])) == before

    store = MongoChatStore(db)
    pair = sum(1 for d in docs if {d["from"], d["to"]} == {A, C})
    sent = store.append(Draft(ConversationId.direct(A, C), A, "after the upgrade", "new-1"))
    assert sent.message.seq == pair + 1
    retried = store.append(Draft(ConversationId.direct(A, B), A, "again", "v1-0"))
    assert retried.duplicate and retried.message.id == str(docs[0]["_id"])


def test_a_dry_run_counts_and_changes_nothing(v1_db: tuple[Db, list[dict[str, Any]]]) -> None:
    db, docs = v1_db
    report = migrate(db, datetime.now(UTC), dry_run=True)
    assert (report.conversations, report.messages, report.unread) == (3, len(docs), 5)
    assert db["messages"].count_documents({"seq": {"$exists": True}}) == 0
