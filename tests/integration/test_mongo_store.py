"""The MongoDB chat store against the real MongoDB-compatible server (FerretDB or
mongod): the store contract, and what only a database can show -- indexes, racing
writers, documents written by v1."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pymongo.database import Database

from chalicelib.chat.domain import ConversationId, Draft, ReadState
from chalicelib.mongo.documents import CONVERSATIONS, INDEXES
from chalicelib.store import MongoChatStore
from tests.clocks import ManualTime
from tests.contracts.store_contract import ChatStoreContract, new_user

Db = Database[dict[str, Any]]


@pytest.fixture
def clock() -> ManualTime:
    return ManualTime(step_ms=1)


@pytest.fixture
def store(mongo_db: Db, clock: ManualTime) -> MongoChatStore:
    s = MongoChatStore(mongo_db, clock)
    s.ensure_indexes()
    return s


class TestMongoChatStore(ChatStoreContract):
    pass


def reading(seq: int) -> Callable[[ReadState], ReadState]:
    return lambda state: state.with_read([seq])


def reading_up_to(seq: int) -> Callable[[ReadState], ReadState]:
    return lambda state: state.up_to(seq)


def test_every_index_the_queries_rely_on_exists(store: MongoChatStore, mongo_db: Db) -> None:
    for collection, indexes in INDEXES.items():
        names = {i["name"] for i in mongo_db[collection].list_indexes()}
        assert {i.document["name"] for i in indexes} <= names
    store.ensure_indexes()  # a second container starting: no error


def test_concurrent_sends_are_numbered_without_gaps_or_repeats(store: MongoChatStore) -> None:
    a, b = new_user(), new_user()
    conversation = ConversationId.direct(a, b)

    def write(sender: int) -> list[int]:
        return [
            store.append(Draft(conversation, sender, "x", uuid.uuid4().hex)).message.seq
            for _ in range(25)
        ]

    with ThreadPoolExecutor(8) as pool:
        seqs = [s for batch in pool.map(write, [a, b] * 4) for s in batch]
    assert sorted(seqs) == list(range(1, 201))
    history = store.history(conversation, floor=0, after=0, before=None, limit=500)
    assert [m.seq for m in history] == list(range(1, 201))
    created = [m.created_at for m in history]
    assert created == sorted(created)  # time order is seq order


def test_concurrent_reads_of_one_member_lose_nothing(store: MongoChatStore) -> None:
    a, b = new_user(), new_user()
    conversation = ConversationId.direct(a, b)
    for _ in range(80):
        store.append(Draft(conversation, a, "x", uuid.uuid4().hex))

    def read(start: int) -> int:
        newly = 0
        for seq in range(start, 81, 8):  # each thread its own seqs, all at once
            changed = store.change_read(conversation, b, reading(seq))
            assert changed is not None
            newly += len(changed[1].newly_read(changed[0], [seq]))
        return newly

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(read, range(1, 9))) == 80
    m = store.membership(conversation, b)
    assert m is not None and (m.read.read_seq, m.read.extra, m.unread_count()) == (80, (), 0)


def test_unread_counts_stay_exact_while_sending_and_reading_at_once(
    store: MongoChatStore,
) -> None:
    a, b = new_user(), new_user()
    conversation = ConversationId.direct(a, b)

    def send() -> None:
        for _ in range(40):
            store.append(Draft(conversation, a, "x", uuid.uuid4().hex))

    def read() -> None:
        for _ in range(40):
            m = store.membership(conversation, b)
            if m is not None and m.max_seq:
                store.change_read(conversation, b, reading_up_to(m.max_seq))

    with ThreadPoolExecutor(4) as pool:
        for job in [pool.submit(send), pool.submit(send), pool.submit(read), pool.submit(read)]:
            job.result()
    m = store.membership(conversation, b)
    assert m is not None and m.max_seq == 80
    unread = store.unread(b, [m], 100, None)
    assert m.unread_count() == len(unread) == 80 - m.read.read_seq


def test_once_the_server_is_unreachable_the_store_fails_fast() -> None:
    from pymongo import MongoClient

    from chalicelib.breaker import CircuitBreaker
    from chalicelib.errors import Unavailable
    from infra.services import free_port
    from tests.clocks import ManualClock

    dead = f"mongodb://127.0.0.1:{free_port()}/"  # nothing listens there
    client: MongoClient[dict[str, Any]] = MongoClient(dead, serverSelectionTimeoutMS=200)
    clock = ManualClock()
    store = MongoChatStore(client["im"], breaker=CircuitBreaker(5, clock))
    try:
        with pytest.raises(Unavailable) as first:
            store.message("0" * 24)
        assert first.value.__cause__ is not None  # the driver gave up on the server
        with pytest.raises(Unavailable) as fast:
            store.membership(ConversationId.direct(1, 2), 1)
        assert fast.value.__cause__ is None  # refused without asking the driver
        clock.now += 5
        with pytest.raises(Unavailable) as probe:
            store.message("0" * 24)
        assert probe.value.__cause__ is not None  # half-open: one probe tried again
    finally:
        client.close()


# --- numbers lost with no message (chalicelib/mongo/gaps.py) ----------------------------


def lose_a_number(db: Db, conversation: ConversationId) -> None:
    """What a numbering whose answer never reached the handler leaves behind: the
    server moved the counter, and no message will ever have that number."""
    db[CONVERSATIONS].update_one({"_id": str(conversation)}, {"$inc": {"max_seq": 1}})


def unread_of(store: MongoChatStore, conversation: ConversationId, user: int) -> tuple[int, int]:
    """(the member's unread count, how many messages their unread page lists)."""
    member = store.membership(conversation, user)
    assert member is not None
    return member.unread_count(), len(store.unread(user, [member], 100, None))


def test_a_number_lost_with_no_message_stops_counting_once_abandoned(
    store: MongoChatStore, mongo_db: Db, clock: ManualTime
) -> None:
    a, b = new_user(), new_user()
    conversation = ConversationId.direct(a, b)
    first = store.append(Draft(conversation, a, "one", uuid.uuid4().hex)).message
    lose_a_number(mongo_db, conversation)
    third = store.append(Draft(conversation, a, "three", uuid.uuid4().hex)).message
    assert (first.seq, third.seq) == (1, 3)
    assert unread_of(store, conversation, b) == (3, 2)  # the gap counts as unread

    # b reads every message there is, at once: the number may still be on its way.
    store.change_read(conversation, b, lambda r: r.with_read([1, 3]))
    assert unread_of(store, conversation, b) == (1, 0)

    # Long after any handler could insert it, b's next read fills it.
    clock.advance(91)
    store.change_read(conversation, b, lambda r: r.with_read([3]))
    assert unread_of(store, conversation, b) == (0, 0)
    later = store.append(Draft(conversation, a, "four", uuid.uuid4().hex)).message
    assert later.seq == 4 and unread_of(store, conversation, b) == (1, 1)
    assert unread_of(store, conversation, a) == (0, 0)
    history = store.history(conversation, floor=0, after=0, before=None, limit=10)
    assert [m.content for m in history] == ["one", "three", "four"]


def test_an_unread_message_between_reads_is_never_filled(
    store: MongoChatStore, clock: ManualTime
) -> None:
    a, b = new_user(), new_user()
    conversation = ConversationId.direct(a, b)
    for text in ("one", "two", "three"):
        store.append(Draft(conversation, a, text, uuid.uuid4().hex))
    clock.advance(600)

    store.change_read(conversation, b, lambda r: r.with_read([1, 3]))

    member = store.membership(conversation, b)
    assert member is not None and member.unread_count() == 1
    assert [m.content for m in store.unread(b, [member], 100, None)] == ["two"]
