"""Conversation (pure): how far the client has everything (`top`), by what history says."""

from __future__ import annotations

from datetime import UTC, datetime

from clients.terminal.conversations import KEEP_MAX, Conversation, Fetch
from clients.terminal.messages import ChatMessage, ConversationRef, HistoryPage

ME, PEER = 1, 2
REF = ConversationRef.direct(ME, PEER)
T0 = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)


def message(seq: int, sender: int = PEER) -> ChatMessage:
    return ChatMessage(f"m{seq}", sender, ME, f"#{seq}", T0, REF.id, seq)


def page(seqs: list[int], has_more: bool = False, max_seq: int | None = None) -> HistoryPage:
    return HistoryPage(
        REF.id,
        [message(s) for s in seqs],
        has_more,
        max(seqs, default=0) if max_seq is None else max_seq,
        0,
        0,
    )


def test_an_after_page_with_more_is_contiguous_only_up_to_its_last_message() -> None:
    c = Conversation(REF, ME)
    c.merge(Fetch(REF.id, after_seq=10), page([11, 12], has_more=True, max_seq=15))
    assert (c.floor, c.top, c.has_older, c.gap) == (11, 12, True, True)
    c.merge(Fetch(REF.id, after_seq=12), page([14, 15], max_seq=15))  # 13 was never stored
    assert (c.top, c.gap) == (15, False)


def test_the_newest_page_holds_everything_from_its_oldest_message_up() -> None:
    c = Conversation(REF, ME)
    c.place(message(31))  # pushed before the first page came
    c.merge(Fetch(REF.id), page([28, 29, 31], has_more=True, max_seq=31))
    assert (c.floor, c.top, c.has_older) == (28, 31, True)
    assert [m.seq for m in c.ordered()] == [28, 29, 31]


def test_a_message_pushed_above_top_plus_one_is_a_gap() -> None:
    c = Conversation(REF, ME)
    c.merge(Fetch(REF.id), page([1, 2]))
    placed = [c.place(message(3)), c.gap, c.place(message(5)), c.gap, c.top]
    assert placed == [True, False, True, True, 3]
    assert not c.place(message(5))  # already here


def test_an_empty_conversation_has_nothing_older() -> None:
    c = Conversation(REF, ME)
    c.merge(Fetch(REF.id), page([]))
    assert (c.loaded, c.top, c.has_older, c.floor) == (True, 0, False, 1)
    # A push of #2 leaves #1 missing; history brings it, below the push.
    assert c.place(message(2)) and c.gap
    c.merge(Fetch(REF.id, after_seq=0), page([1, 2]))
    assert [m.seq for m in c.ordered()] == [1, 2] and not c.gap


def test_the_oldest_messages_are_let_go_past_the_limit() -> None:
    c = Conversation(REF, ME)
    c.merge(Fetch(REF.id), page([]))
    for seq in range(1, KEEP_MAX + 2):
        c.place(message(seq))
    dropped = c.trim()
    assert [m.seq for m in dropped] == [1]
    assert (c.floor, c.has_older, len(c.messages)) == (2, True, KEEP_MAX)


def test_last_own_skips_recalled_ones() -> None:
    c = Conversation(REF, ME)
    c.merge(Fetch(REF.id), page([]))
    for seq, sender in ((1, ME), (2, ME), (3, PEER)):
        c.place(message(seq, sender))
    assert c.last_own() == message(2, ME)
    c.recall(2, ME)
    own = c.last_own()
    assert own is not None and own.seq == 1
