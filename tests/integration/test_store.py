"""MessageStore against the real MongoDB-compatible server (FerretDB or mongod)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from chalicelib.errors import BadRequest
from chalicelib.store import (
    STATUS_READ,
    STATUS_RECALLED,
    STATUS_UNREAD,
    MessageStore,
    NewMessage,
)

Db = Database[dict[str, Any]]


class StepClock:
    """Each reading is `step` after the previous one, from a fixed start."""

    def __init__(self, step: timedelta = timedelta(milliseconds=1)) -> None:
        self.now = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.fixture
def store(mongo_db: Db) -> MessageStore:
    s = MessageStore(mongo_db["messages"])
    s.ensure_indexes()
    return s


def send(store: MessageStore, sender: int, to: int, ack: str, content: str = "hi") -> str:
    return store.save(NewMessage(sender=sender, to=to, content=content, ack_id=ack)).message.id


def test_save_returns_the_stored_message_with_server_time(
    store: MessageStore, mongo_db: Db
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    result = store.save(NewMessage(sender=1, to=2, content="hello", ack_id="c-1", msg_type=3))

    assert result.duplicate is False
    msg = result.message
    assert (msg.sender, msg.to, msg.content, msg.msg_type, msg.ack_id, msg.status) == (
        1,
        2,
        "hello",
        3,
        "c-1",
        STATUS_UNREAD,
    )
    assert msg.created_at == msg.updated_at
    assert before <= msg.created_at <= datetime.now(UTC)
    assert msg.created_at.microsecond % 1000 == 0  # millisecond precision
    doc = mongo_db["messages"].find_one({"_id": ObjectId(msg.id)})
    assert doc is not None
    assert doc["content"] == "hello"
    assert doc["status"] == 0
    wire = msg.wire()
    assert wire["from"] == 1
    assert wire["created_at"].endswith("Z")
    assert len(wire["id"]) == 24


def test_retry_with_same_ack_id_returns_first_message(store: MessageStore, mongo_db: Db) -> None:
    first = store.save(NewMessage(sender=1, to=2, content="one", ack_id="same"))
    retry = store.save(NewMessage(sender=1, to=2, content="changed", ack_id="same"))

    assert retry.duplicate is True
    assert retry.message.id == first.message.id
    assert retry.message.content == "one"
    assert mongo_db["messages"].count_documents({}) == 1


def test_same_ack_id_from_another_sender_is_a_new_message(store: MessageStore) -> None:
    a = store.save(NewMessage(sender=1, to=3, content="x", ack_id="k"))
    b = store.save(NewMessage(sender=2, to=3, content="x", ack_id="k"))
    assert not b.duplicate
    assert a.message.id != b.message.id


def test_concurrent_retries_store_exactly_one_document(mongo_db: Db) -> None:
    store = MessageStore(mongo_db["messages"])
    store.ensure_indexes()
    barrier = threading.Barrier(16)
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def retry() -> None:
        barrier.wait()
        r = store.save(NewMessage(sender=7, to=8, content="race", ack_id="race-1"))
        with lock:
            results.append((r.message.id, r.duplicate))

    threads = [threading.Thread(target=retry) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert mongo_db["messages"].count_documents({"from": 7, "ack_id": "race-1"}) == 1
    assert len({mid for mid, _ in results}) == 1
    assert sorted(dup for _, dup in results) == [False] + [True] * 15


def test_unread_is_oldest_first_and_only_unread_to_the_user(mongo_db: Db) -> None:
    store = MessageStore(mongo_db["messages"], clock=StepClock())
    store.ensure_indexes()
    ids = [send(store, 1, 2, f"a{i}", f"m{i}") for i in range(5)]
    send(store, 2, 1, "other-direction")
    send(store, 1, 3, "other-user")
    store.mark_read(2, [ids[1]])

    page = store.unread_page(2, limit=100)

    assert [m.id for m in page.messages] == [ids[0], ids[2], ids[3], ids[4]]
    assert [m.content for m in page.messages] == ["m0", "m2", "m3", "m4"]
    assert page.next_cursor is None


def test_same_millisecond_is_ordered_by_id(mongo_db: Db) -> None:
    fixed = datetime(2026, 1, 1, tzinfo=UTC)
    store = MessageStore(mongo_db["messages"], clock=lambda: fixed)
    store.ensure_indexes()
    ids = [send(store, 1, 2, f"t{i}") for i in range(30)]
    seen: list[str] = []
    cursor = None
    while True:
        page = store.unread_page(2, limit=7, cursor=cursor)
        seen += [m.id for m in page.messages]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(ids, key=lambda i: ObjectId(i).binary)


def test_paging_across_2000_messages_sees_each_exactly_once_in_order(mongo_db: Db) -> None:
    store = MessageStore(mongo_db["messages"], clock=StepClock(timedelta(microseconds=300)))
    store.ensure_indexes()
    now = datetime(2026, 11, 27, tzinfo=UTC)
    docs = [
        {
            "_id": ObjectId(),
            "from": 5,
            "to": 6,
            "group_id": 0,
            "content": f"n{i}",
            "msg_type": 1,
            "ack_id": f"bulk-{i}",
            "status": STATUS_UNREAD,
            # several messages share a millisecond, so ties by id are exercised too
            "created_at": now + timedelta(milliseconds=i // 3),
            "updated_at": now,
        }
        for i in range(2000)
    ]
    mongo_db["messages"].insert_many(docs)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = store.unread_page(6, limit=150, cursor=cursor)
        pages += 1
        seen += [m.content for m in page.messages]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == [f"n{i}" for i in range(2000)]
    assert pages == 14  # 13 full pages of 150 and a last one of 50


def test_page_exactly_filled_has_no_next_cursor(store: MessageStore) -> None:
    for i in range(4):
        send(store, 1, 2, f"e{i}")
    page = store.unread_page(2, limit=4)
    assert len(page.messages) == 4
    assert page.next_cursor is None


def test_mark_read_changes_only_own_unread_and_counts(mongo_db: Db) -> None:
    store = MessageStore(mongo_db["messages"], clock=StepClock())
    store.ensure_indexes()
    mine = [send(store, 1, 2, f"m{i}") for i in range(3)]
    theirs = send(store, 1, 9, "not-for-2")
    recalled = send(store, 1, 2, "recalled")
    mongo_db["messages"].update_one({"_id": ObjectId(recalled)}, {"$set": {"status": 2}})
    unknown = str(ObjectId())

    updated = store.mark_read(2, [mine[0], mine[1], mine[1].upper(), theirs, recalled, unknown])

    assert updated == 2
    status = {str(d["_id"]): d["status"] for d in mongo_db["messages"].find()}
    assert status[mine[0]] == status[mine[1]] == STATUS_READ
    assert status[mine[2]] == STATUS_UNREAD
    assert status[theirs] == STATUS_UNREAD
    assert status[recalled] == STATUS_RECALLED
    assert store.mark_read(2, [mine[0]]) == 0  # already read: not counted again
    assert [m.id for m in store.unread_page(2, 10).messages] == [mine[2]]


def test_mark_read_updates_updated_at(mongo_db: Db) -> None:
    clock = StepClock(timedelta(seconds=5))
    store = MessageStore(mongo_db["messages"], clock=clock)
    mid = send(store, 1, 2, "u")
    store.mark_read(2, [mid])
    doc = mongo_db["messages"].find_one({"_id": ObjectId(mid)})
    assert doc is not None
    assert doc["updated_at"] - doc["created_at"] == timedelta(seconds=5)


@pytest.mark.parametrize(
    "bad_ids",
    [
        ["not-an-id"],
        ["zz" * 12],
        ["abc"],
        [{"$ne": None}],
        [123],
        [None],
    ],
)
def test_malformed_ids_are_refused_and_change_nothing(
    store: MessageStore, mongo_db: Db, bad_ids: list[Any]
) -> None:
    good = send(store, 1, 2, "g")
    with pytest.raises(BadRequest):
        store.mark_read(2, [good, *bad_ids])
    assert mongo_db["messages"].find_one({"_id": ObjectId(good)})["status"] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.unread_page({"$ne": None}, 10),
        lambda s: s.unread_page(True, 10),
        lambda s: s.unread_page(0, 10),
        lambda s: s.unread_page(2**63, 10),
        lambda s: s.unread_page("2", 10),
        lambda s: s.unread_page(2, 10, cursor="!!!"),
        lambda s: s.unread_page(2, 10, cursor="QUJD"),
        lambda s: s.mark_read({"$gt": 0}, [str(ObjectId())]),
        lambda s: s.save(NewMessage(sender=1, to={"$ne": None}, content="x", ack_id="a")),  # type: ignore[arg-type]
        lambda s: s.save(NewMessage(sender=1, to=2, content="x", ack_id={"$ne": None})),  # type: ignore[arg-type]
    ],
)
def test_non_scalar_or_out_of_range_filter_values_are_refused(
    store: MessageStore, mongo_db: Db, call: Callable[[MessageStore], object]
) -> None:
    send(store, 1, 2, "exists")
    with pytest.raises(BadRequest):
        call(store)
    assert mongo_db["messages"].count_documents({}) == 1


def test_ensure_indexes_is_idempotent_and_creates_both(store: MessageStore, mongo_db: Db) -> None:
    store.ensure_indexes()
    store.ensure_indexes()
    info = mongo_db["messages"].index_information()
    assert info["from_1_ack_id_1"]["unique"] is True
    assert info["from_1_ack_id_1"]["key"] == [("from", 1), ("ack_id", 1)]
    assert info["to_1_status_1_created_at_1__id_1"]["key"] == [
        ("to", 1),
        ("status", 1),
        ("created_at", 1),
        ("_id", 1),
    ]


def test_page_stops_at_the_byte_budget_and_continues_from_there(mongo_db: Db) -> None:
    store = MessageStore(mongo_db["messages"], clock=StepClock())
    ids = [send(store, 1, 2, f"big{i}", "字" * 8000) for i in range(10)]  # ~24 KB each

    first = store.unread_page(2, limit=10, max_bytes=60_000)
    assert [m.id for m in first.messages] == ids[:2]
    assert first.next_cursor is not None

    seen = [m.id for m in first.messages]
    cursor: str | None = first.next_cursor
    while cursor is not None:
        page = store.unread_page(2, limit=10, cursor=cursor, max_bytes=60_000)
        seen += [m.id for m in page.messages]
        cursor = page.next_cursor
    assert seen == ids


def test_a_single_message_over_the_budget_still_makes_a_page(mongo_db: Db) -> None:
    store = MessageStore(mongo_db["messages"], clock=StepClock())
    only = send(store, 1, 2, "huge", "x" * 8000)
    page = store.unread_page(2, limit=10, max_bytes=100)
    assert [m.id for m in page.messages] == [only]
    assert page.next_cursor is None
