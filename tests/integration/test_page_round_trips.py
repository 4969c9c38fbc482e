"""Pages cost what docs/protocol.md says, in round trips to a real MongoDB-compatible
server: a conversation-list page and a history page are one `find`, an unread page is
two (the memberships, then the messages) -- at every allowed page size, so no `getMore`
or `killCursors` may follow a `find` that returns more than a server's default first
batch (101 documents) or exactly that many."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from chalicelib.chat.domain import ConversationId, Draft
from chalicelib.models.bodies import CONVERSATIONS_MAX_LIMIT, HISTORY_MAX_LIMIT
from chalicelib.models.types import UNREAD_MAX_LIMIT
from chalicelib.store import MongoChatStore
from infra.services import Service

ME = 1
PEERS = 150  # more conversations (and unread messages) than a default first batch


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(scope="module")
def counted(mongo_service: Service) -> Iterator[tuple[MongoChatStore, Commands]]:
    """A store on a database of its own, with ME in PEERS 1:1 conversations, one unread
    message in each, and PEERS messages from the first peer."""
    commands = Commands()
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongo_service.url, tz_aware=True, event_listeners=[commands]
    )
    name = f"t_{uuid.uuid4().hex[:16]}"
    store = MongoChatStore(client[name])
    store.ensure_indexes()
    for peer in range(2, 2 + PEERS):
        store.append(Draft(ConversationId.direct(ME, peer), peer, "hi", f"hi-{peer}"))
    for i in range(PEERS - 1):
        store.append(Draft(ConversationId.direct(ME, 2), 2, f"more {i}", f"more-{i}"))
    try:
        yield store, commands
    finally:
        client.drop_database(name)
        client.close()


def test_a_conversation_list_page_of_the_largest_size_is_one_find(
    counted: tuple[MongoChatStore, Commands],
) -> None:
    store, commands = counted
    commands.names.clear()
    items, following = store.conversations(ME, CONVERSATIONS_MAX_LIMIT, None)
    assert len(items) == CONVERSATIONS_MAX_LIMIT and following is not None
    assert commands.names == ["find"]


@pytest.mark.parametrize("newest_first", [True, False])
def test_a_history_page_of_the_largest_size_is_one_find(
    counted: tuple[MongoChatStore, Commands], newest_first: bool
) -> None:
    store, commands = counted
    commands.names.clear()
    found = store.history(
        ConversationId.direct(ME, 2),
        floor=0,
        after=None if newest_first else 0,
        before=None,
        limit=HISTORY_MAX_LIMIT + 1,  # as the use case asks: one more, to know has_more
    )
    assert len(found) == PEERS
    assert commands.names == ["find"]


def test_an_unread_page_of_the_largest_size_is_two_finds(
    counted: tuple[MongoChatStore, Commands],
) -> None:
    store, commands = counted
    commands.names.clear()
    pending = [m for m in store.memberships_of(ME) if m.unread_count() > 0]
    found = store.unread(ME, pending, UNREAD_MAX_LIMIT + 1, None)
    assert len(pending) == PEERS and len(found) == 2 * PEERS - 1
    assert commands.names == ["find", "find"]
