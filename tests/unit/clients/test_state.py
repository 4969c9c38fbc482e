"""ChatState (pure): conversations by seq, gaps, dedupe, unread counts, marking read,
receipts, recalls, group frames, and which errors mean "sign in again"."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clients.terminal.conversations import Conversation, Fetch
from clients.terminal.messages import (
    Ack,
    ChatMessage,
    ConversationInfo,
    ConversationRef,
    HistoryPage,
    Member,
    Outgoing,
)
from clients.terminal.state import (
    CATCH_UP_MAX,
    CONTEXT,
    ChatState,
    Effect,
    Status,
    means_sign_in_again,
)

ME, PEER, OTHER = 1, 2, 3
DIRECT = "d:1:2"
GROUP = "g:9"
T0 = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)


@dataclass
class Recorder:
    """ChatEvents that remember what the UI would have been told."""

    statuses: list[Status] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    changed: list[tuple[str, list[str]]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    acked: list[tuple[str, str, bool]] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    notices: list[tuple[str, str | None]] = field(default_factory=list)
    lists: int = 0

    def status_changed(self, status: Status, detail: str) -> None:
        self.statuses.append(status)

    def conversations_changed(self) -> None:
        self.lists += 1

    def conversation_opened(self, conversation: Conversation) -> None:
        self.opened.append(conversation.id)

    def messages_changed(self, conversation: Conversation, messages: list[ChatMessage]) -> None:
        self.changed.append((conversation.id, [m.id for m in messages]))

    def messages_dropped(self, conversation: Conversation, messages: list[ChatMessage]) -> None:
        self.dropped += [m.id for m in messages]

    def send_acknowledged(self, outgoing: Outgoing, ack: Ack) -> None:
        self.acked.append((outgoing.content, ack.message_id, ack.duplicate))

    def send_refused(self, outgoing: Outgoing, code: str, text: str) -> None:
        self.refused.append((outgoing.content, code, text))

    def notice(self, text: str, conversation_id: str | None = None) -> None:
        self.notices.append((text, conversation_id))

    def last_notice(self) -> tuple[str, str | None]:
        return self.notices[-1]

    def shown(self, conversation_id: str = DIRECT) -> list[str]:
        return [i for c, ids in self.changed if c == conversation_id for i in ids]


def wire(seq: int, sender: int = PEER, conversation: str = DIRECT, **extra: Any) -> dict[str, Any]:
    group_id = int(conversation[2:]) if conversation.startswith("g:") else 0
    to = 0 if group_id else (ME if sender != ME else PEER)
    return {
        "id": extra.pop("id", f"{conversation}#{seq}"),
        "from": sender,
        "to": to,
        "group_id": group_id,
        "content": extra.pop("content", f"message {seq}"),
        "msg_type": 1,
        "ack_id": f"a{seq}",
        "status": extra.pop("status", 0),
        "created_at": (T0 + timedelta(seconds=seq)).isoformat().replace("+00:00", "Z"),
        "updated_at": T0.isoformat(),
        **extra,
    }


def pushed(seq: int, sender: int = PEER, conversation: str = DIRECT, **extra: Any) -> str:
    message = wire(seq, sender, conversation, **extra)
    frame = {"type": "message", "message": message, "conversation_id": conversation, "seq": seq}
    return json.dumps(frame)


def page(
    conversation: str,
    seqs: list[int],
    *,
    has_more: bool = False,
    max_seq: int | None = None,
    read_seq: int = 0,
    peer_read_seq: int = 0,
    sender: int = PEER,
) -> HistoryPage:
    messages = [
        {**wire(s, sender, conversation), "conversation_id": conversation, "seq": s} for s in seqs
    ]
    return HistoryPage.from_wire(
        {
            "conversation_id": conversation,
            "messages": messages,
            "has_more": has_more,
            "max_seq": max(seqs, default=0) if max_seq is None else max_seq,
            "read_seq": read_seq,
            "peer_read_seq": peer_read_seq,
        }
    )


def listed(
    conversation: str, max_seq: int, read_seq: int = 0, unread: int | None = None
) -> ConversationInfo:
    return ConversationInfo.from_wire(
        {
            "conversation_id": conversation,
            "name": "team" if conversation.startswith("g:") else None,
            "last_message": None,
            "last_activity_at": T0.isoformat(),
            "max_seq": max_seq,
            "read_seq": read_seq,
            "unread_count": max_seq - read_seq if unread is None else unread,
            "peer_read_seq": 0,
        }
    )


def frame(**fields: Any) -> str:
    return json.dumps(fields)


def new_state() -> tuple[ChatState, Recorder]:
    events = Recorder()
    return ChatState(events, me=ME), events


def opened(state: ChatState, conversation: str = DIRECT, *seqs: int) -> Conversation:
    """Open `conversation` and load `seqs` as its first (complete) page."""
    c, _ = state.open(ConversationRef.parse(conversation))
    fetch = state.next_fetch()
    assert fetch is not None
    state.history_loaded(fetch, page(conversation, list(seqs)))
    return c


def test_opening_a_listed_conversation_fetches_its_unread_with_some_context() -> None:
    state, events = new_state()
    state.merge_list([listed(DIRECT, max_seq=20, read_seq=12)], complete=True)

    c, effect = state.open(ConversationRef.parse(DIRECT))

    assert effect & Effect.SYNC
    fetch = state.next_fetch()
    assert fetch == Fetch(DIRECT, after_seq=12 - CONTEXT, limit=CATCH_UP_MAX)
    effect = state.history_loaded(fetch, page(DIRECT, list(range(8, 21)), read_seq=12))
    assert events.shown() == [f"{DIRECT}#{s}" for s in range(8, 21)]
    assert effect & Effect.TO_MARK and state.to_mark == {DIRECT: 20}
    assert state.next_fetch() is None  # complete: nothing more to ask

    state.marked(DIRECT, 20, read_seq=20, unread=0)
    assert state.to_mark == {} and c.read_seq == 20 and c.unread == 0


def test_more_unread_than_a_catch_up_opens_at_the_newest_page_and_scrolls_back() -> None:
    state, events = new_state()
    state.merge_list([listed(DIRECT, max_seq=1000, read_seq=0)], complete=True)
    state.open(ConversationRef.parse(DIRECT))

    fetch = state.next_fetch()
    assert fetch is not None and (fetch.after_seq, fetch.before_seq) == (None, None)
    state.history_loaded(fetch, page(DIRECT, list(range(951, 1001)), has_more=True))
    assert ("more unread messages above: /more or PageUp", DIRECT) in events.notices
    assert state.to_mark == {DIRECT: 1000}

    state.older_wanted = True
    older = state.next_fetch()
    assert older == Fetch(DIRECT, before_seq=951, limit=50)
    state.history_loaded(older, page(DIRECT, list(range(901, 951)), has_more=False))
    assert events.shown()[-50:] == [f"{DIRECT}#{s}" for s in range(901, 951)]
    assert state.conversations[DIRECT].ordered()[0].seq == 901

    state.older_wanted = True
    assert state.next_fetch() is None
    assert events.last_notice() == ("no older messages", DIRECT)


def test_pushed_messages_are_placed_by_seq_and_a_gap_is_fetched() -> None:
    state, events = new_state()
    c = opened(state, DIRECT, 1, 2)

    assert state.handle_frame(pushed(3)) == Effect.TO_MARK  # the next one: no gap
    effect = state.handle_frame(pushed(6))  # 4 and 5 are missing
    assert effect & Effect.SYNC and effect & Effect.TO_MARK
    assert state.to_mark == {DIRECT: 3}  # marked only as far as everything is shown

    fetch = state.next_fetch()
    assert fetch == Fetch(DIRECT, after_seq=3, limit=CATCH_UP_MAX)
    # 4 never existed (a retried send): history skips it, and nothing waits for it.
    state.history_loaded(fetch, page(DIRECT, [5, 6], max_seq=6))
    assert [m.seq for m in c.ordered()] == [1, 2, 3, 5, 6]
    assert c.top == 6 and state.next_fetch() is None
    assert state.to_mark == {DIRECT: 6}
    assert events.shown().count(f"{DIRECT}#6") == 1  # pushed, then in history: once


def test_the_same_message_twice_is_placed_once() -> None:
    state, events = new_state()
    opened(state, DIRECT)
    state.handle_frame(pushed(1))
    state.handle_frame(pushed(1))
    assert events.shown() == [f"{DIRECT}#1"]


def test_other_conversations_are_counted_not_shown() -> None:
    state, events = new_state()
    state.merge_list([listed(GROUP, max_seq=4, read_seq=2)], complete=True)
    opened(state, DIRECT)

    state.handle_frame(pushed(3, OTHER, GROUP))  # already counted by the list
    state.handle_frame(pushed(5, OTHER, GROUP))
    state.handle_frame(pushed(5, OTHER, GROUP))  # the same again
    state.handle_frame(pushed(6, ME, GROUP))  # this user, on another device

    group = state.conversations[GROUP]
    assert group.unread == 3 and state.unread_elsewhere() == 3
    assert events.shown(GROUP) == [] and GROUP not in state.to_mark
    assert group.last is not None and group.last.seq == 6 and group.last.sender == ME
    assert state.listed()[0].id == GROUP  # the newest activity first

    state.open(group.ref)
    assert group.unread == 0 and state.unread_elsewhere() == 0


def test_the_users_own_message_from_another_device_is_shown_not_counted() -> None:
    state, events = new_state()
    c = opened(state, DIRECT)
    state.handle_frame(pushed(1, ME, DIRECT))
    assert events.shown() == [f"{DIRECT}#1"]
    assert c.ordered()[0].sender == ME and c.unread == 0
    assert state.to_mark == {}  # your own messages are read already


def test_ack_places_the_own_message_by_its_seq() -> None:
    state, events = new_state()
    c = opened(state, DIRECT, 1)
    outgoing = state.outgoing("hello")
    assert (outgoing.to, outgoing.group_id, outgoing.conversation_id) == (PEER, None, DIRECT)

    stray = state.handle_frame(frame(type="ack", ack_id="someone-else", message_id="x"))
    effect = state.handle_frame(
        frame(
            type="ack",
            ack_id=outgoing.ack_id,
            message_id="m2",
            created_at="2026-11-27T08:00:09.000Z",
            duplicate=False,
            conversation_id=DIRECT,
            seq=2,
        )
    )
    assert stray == Effect.NONE and effect & Effect.SETTLED
    assert events.acked == [("hello", "m2", False)]
    mine = c.messages[2]
    assert (mine.id, mine.sender, mine.content) == ("m2", ME, "hello")
    assert state.outbox.head() is None and events.shown()[-1] == "m2"


def test_sending_needs_an_open_conversation_and_a_group_send_names_the_group() -> None:
    state, _ = new_state()
    with pytest.raises(ValueError, match="open a conversation"):
        state.outgoing("hi")
    state.open(ConversationRef.parse(GROUP))
    outgoing = state.outgoing("hi all")
    assert (outgoing.to, outgoing.group_id) == (None, 9)


def test_refused_send_is_settled_and_the_connection_kept() -> None:
    state, events = new_state()
    state.open(ConversationRef.parse(GROUP))
    outgoing = state.outgoing("hi")

    effect = state.handle_frame(
        frame(
            type="error",
            code="forbidden",
            error="you are not a member of this group",
            ack_id=outgoing.ack_id,
        )
    )

    assert effect == Effect.SETTLED
    assert events.refused == [("hi", "forbidden", "you are not a member of this group")]


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("forbidden", "this connection is not signed in; reconnect with a token"),
        ("unauthorized", "token expired"),
    ],
)
def test_lost_sign_in_signs_in_again_and_keeps_the_send_for_the_resend(
    code: str, text: str
) -> None:
    state, events = new_state()
    state.open(ConversationRef.parse(DIRECT))
    outgoing = state.outgoing("hello")
    refused = frame(type="error", code=code, error=text, ack_id=outgoing.ack_id)

    assert state.handle_frame(refused) == Effect.AUTH  # a fresh token on this connection
    assert state.outbox.head() is outgoing  # sent again, same ack_id, once signed in
    assert events.refused == []
    assert state.handle_frame(
        frame(type="authenticated", user_id=ME, expires_at="2026-12-02T00:00:00.000Z")
    ) == (Effect.RETRY)
    # Twice in a row without success: a new connection instead.
    assert state.handle_frame(refused) == Effect.AUTH
    assert state.handle_frame(refused) == Effect.AUTH
    assert state.handle_frame(refused) == Effect.RECONNECT


def test_which_errors_mean_sign_in_again() -> None:
    assert means_sign_in_again("forbidden", "This connection is NOT SIGNED IN")
    assert means_sign_in_again("unauthorized", "")
    assert not means_sign_in_again("forbidden", "only its sender can recall a message")
    assert not means_sign_in_again("bad_request", "not signed in")


def test_error_without_a_matching_send_is_a_notice() -> None:
    state, events = new_state()
    effect = state.handle_frame(frame(type="error", code="bad_request", error="empty frame"))
    assert effect == Effect.NONE
    assert events.notices == [("server error (bad_request): empty frame", None)]


def test_direct_receipts_from_history_and_read_frames() -> None:
    state, events = new_state()
    c, _ = state.open(ConversationRef.parse(DIRECT))
    fetch = state.next_fetch()
    assert fetch is not None
    state.history_loaded(fetch, page(DIRECT, [1, 2, 3], sender=ME, peer_read_seq=1))
    assert [c.receipt(m) for m in c.ordered()] == [1, 0, 0]

    read = frame(
        type="read", message_ids=[f"{DIRECT}#3"], by=PEER, conversation_id=DIRECT, read_seq=1
    )
    state.handle_frame(read)  # #3 read out of order (v1 mark-read by id)
    assert [c.receipt(m) for m in c.ordered()] == [1, 0, 1]
    assert events.changed[-1] == (DIRECT, [f"{DIRECT}#3"])

    state.handle_frame(
        frame(type="read", message_ids=[], by=PEER, conversation_id=DIRECT, read_seq=3)
    )
    assert [c.receipt(m) for m in c.ordered()] == [1, 1, 1]
    assert events.changed[-1] == (DIRECT, [f"{DIRECT}#2"])


def test_group_receipts_count_members_who_read_after_joining() -> None:
    state, events = new_state()
    c = opened(state, GROUP)
    state.handle_frame(pushed(1, ME, GROUP))
    state.handle_frame(pushed(2, ME, GROUP))
    late = T0 + timedelta(seconds=1, milliseconds=500)  # joined between #1 and #2
    state.members_loaded(
        GROUP, [Member(ME, True, T0, 2), Member(PEER, False, T0, 1), Member(OTHER, False, late, 2)]
    )
    # #1: PEER (OTHER joined after it); #2: OTHER (PEER read only #1).
    assert [c.receipt(m) for m in c.ordered()] == [1, 1]

    state.handle_frame(
        frame(type="read", message_ids=[f"{GROUP}#1"], by=4, conversation_id=GROUP, read_seq=1)
    )
    assert [c.receipt(m) for m in c.ordered()] == [2, 1]  # user 4, whom the list missed
    assert events.changed[-1] == (GROUP, [f"{GROUP}#1"])

    state.handle_frame(
        frame(
            type="group",
            event="members_added",
            group_id=9,
            conversation_id=GROUP,
            name="team",
            by=ME,
            user_ids=[5],
        )
    )
    assert [c.receipt(m) for m in c.ordered()] == [2, 1]  # the newcomer read nothing yet


def test_reading_on_another_device_clears_the_count() -> None:
    state, _ = new_state()
    state.merge_list([listed(GROUP, max_seq=5, read_seq=0)], complete=True)
    state.handle_frame(frame(type="read", message_ids=[], by=ME, conversation_id=GROUP, read_seq=5))
    assert state.conversations[GROUP].unread == 0


def test_recall_in_the_open_conversation_and_in_the_counts() -> None:
    state, events = new_state()
    c = opened(state, DIRECT, 1, 2)
    state.merge_list([listed(GROUP, max_seq=3, read_seq=1)], complete=True)
    recall_one = frame(
        type="recalled",
        message_id=f"{DIRECT}#2",
        conversation_id=DIRECT,
        seq=2,
        by=PEER,
        recalled_at="x",
    )

    state.handle_frame(recall_one)
    state.handle_frame(recall_one)  # told twice: changed once

    assert c.messages[2].recalled and c.messages[2].content == ""
    assert events.changed[1:] == [(DIRECT, [f"{DIRECT}#2"])]  # shown, then recalled once
    state.handle_frame(
        frame(
            type="recalled", message_id="g", conversation_id=GROUP, seq=3, by=OTHER, recalled_at="x"
        )
    )
    assert state.conversations[GROUP].unread == 1
    # History that still had it before the recall does not bring the content back.
    fetch = Fetch(DIRECT, after_seq=0)
    state.history_loaded(fetch, page(DIRECT, [1, 2]))
    assert c.messages[2].recalled


def test_group_frames_change_the_list_and_are_told() -> None:
    state, events = new_state()

    def group_frame(event: str, by: int, *users: int) -> str:
        return frame(
            type="group",
            event=event,
            group_id=9,
            conversation_id=GROUP,
            name="team",
            by=by,
            user_ids=list(users),
        )

    state.handle_frame(group_frame("created", PEER, PEER, ME))
    assert GROUP in [c.id for c in state.listed()]
    assert events.last_notice() == (f'{PEER} added you to a new group "team"', None)

    state.handle_frame(group_frame("members_added", PEER, OTHER))
    assert events.last_notice() == (f'{PEER} added {OTHER} to "team"', GROUP)

    state.handle_frame(group_frame("member_left", OTHER, OTHER))
    assert events.last_notice() == (f'{OTHER} left "team"', GROUP)

    state.handle_frame(group_frame("members_removed", PEER, ME))
    assert events.last_notice() == (f'{PEER} removed you from group "team"', None)
    assert GROUP not in [c.id for c in state.listed()]

    effect = state.handle_frame(group_frame("members_added", PEER, ME))
    assert effect & Effect.SYNC and state.list_stale
    assert GROUP in [c.id for c in state.listed()]


def test_a_group_missing_from_the_whole_list_was_left() -> None:
    state, _ = new_state()
    state.merge_list([listed(GROUP, 3), listed(DIRECT, 2)], complete=True)
    state.merge_list([listed(DIRECT, 2)], complete=False)  # one page: proves nothing
    assert GROUP in [c.id for c in state.listed()]
    state.merge_list([listed(DIRECT, 2)], complete=True)
    assert [c.id for c in state.listed()] == [DIRECT]


def test_a_list_newer_than_the_open_conversation_asks_for_the_rest() -> None:
    state, _ = new_state()
    opened(state, DIRECT, 1, 2)
    effect = state.merge_list([listed(DIRECT, max_seq=4, read_seq=2)], complete=True)
    assert effect & Effect.SYNC
    assert state.next_fetch() == Fetch(DIRECT, after_seq=2, limit=CATCH_UP_MAX)


def test_refused_history_stops_the_fetching() -> None:
    state, events = new_state()
    state.open(ConversationRef.parse(GROUP))
    fetch = state.next_fetch()
    assert fetch is not None
    state.history_refused(fetch, 403, "you are not a member of this group")
    assert state.next_fetch() is None
    assert not state.conversations[GROUP].member
    assert events.last_notice() == (
        "cannot read this conversation: you are not a member of this group",
        GROUP,
    )


def test_open_group_members_are_wanted_once() -> None:
    state, _ = new_state()
    opened(state, GROUP)
    assert state.members_wanted() == GROUP
    state.members_loaded(GROUP, [])
    assert state.members_wanted() is None


def test_pong_unknown_and_broken_frames() -> None:
    state, events = new_state()

    assert state.handle_frame(frame(type="pong")) == Effect.PONG
    assert state.handle_frame(frame(type="typing", by=2)) == Effect.NONE
    assert state.handle_frame("{not json") == Effect.NONE
    assert state.handle_frame(frame(type="message", message=wire(1))) == Effect.NONE  # no seq

    assert len(events.notices) == 2 and events.changed == []
