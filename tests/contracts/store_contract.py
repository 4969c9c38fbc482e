"""What any ChatStore must do: the MongoDB adapter and the in-memory fake alike.

Subclasses provide two fixtures: `clock` (a tests.clocks.ManualTime stepping 1 ms per
reading) and `store`, built with that clock.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib.chat.domain import (
    ConversationId,
    Draft,
    Group,
    MessageState,
    ReadState,
    Role,
    StoredMessage,
)
from chalicelib.chat.ports import ChatStore, UnreadCursor
from chalicelib.errors import BadRequest, Forbidden, NotFound
from tests.clocks import ManualTime


def new_user() -> int:
    return uuid.uuid4().int >> 66


def direct(a: int, b: int) -> ConversationId:
    return ConversationId.direct(a, b)


def say(
    store: ChatStore,
    conversation: ConversationId,
    sender: int,
    text: str = "hi",
    ack: str | None = None,
) -> StoredMessage:
    appended = store.append(Draft(conversation, sender, text, ack or uuid.uuid4().hex))
    assert appended.duplicate is False
    if conversation.is_group:
        store.fan_out(appended.message)  # what the send use case does after the ack
    return appended.message


def make_group(store: ChatStore, clock: ManualTime, owner: int, *members: int) -> Group:
    group = Group(
        group_id=uuid.uuid4().int >> 75,
        name="g",
        owner=owner,
        members=(owner, *members),
        created_at=clock(),
    )
    assert store.create_group(group)
    found = store.group(group.group_id)
    assert found is not None
    return found


class ChatStoreContract:
    # --- numbering and idempotency ------------------------------------------------------

    def test_messages_are_numbered_per_conversation(self, store: ChatStore) -> None:
        a, b, c = new_user(), new_user(), new_user()
        ab, ac = direct(a, b), direct(a, c)
        assert [say(store, ab, a).seq, say(store, ab, b).seq, say(store, ab, a).seq] == [1, 2, 3]
        assert say(store, ac, c).seq == 1

    def test_appended_message_is_what_was_sent_with_server_time(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        a, b = new_user(), new_user()
        before = clock.now
        appended = store.append(Draft(direct(a, b), a, "hello", "c-1", msg_type=3))
        m = appended.message
        assert (m.sender, m.to, m.group_id, m.content, m.msg_type, m.ack_id) == (
            a,
            b,
            0,
            "hello",
            3,
            "c-1",
        )
        assert m.state is MessageState.ACTIVE and m.created_at > before
        assert m.created_at == m.updated_at
        assert set(appended.members) == {a, b}
        assert store.message(m.id) == m

    def test_created_at_never_goes_back_along_seq(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        a, b = new_user(), new_user()
        first = say(store, direct(a, b), a)
        clock.now -= timedelta(seconds=30)  # another container's clock is behind
        second = say(store, direct(a, b), b)
        assert second.seq == first.seq + 1 and second.created_at >= first.created_at

    def test_a_retried_ack_id_returns_the_first_message_and_uses_no_number(
        self, store: ChatStore
    ) -> None:
        a, b = new_user(), new_user()
        first = say(store, direct(a, b), a, "once", ack="r-1")
        again = store.append(Draft(direct(a, b), a, "once, retried", "r-1"))
        assert again.duplicate is True and again.message == first
        assert say(store, direct(a, b), a).seq == first.seq + 1
        other_sender = store.append(Draft(direct(a, b), b, "same ack, other sender", "r-1"))
        assert other_sender.duplicate is False  # ack ids are per sender

    def test_a_note_to_self_has_one_member(self, store: ChatStore) -> None:
        a = new_user()
        appended = store.append(Draft(direct(a, a), a, "note", "n-1"))
        assert appended.members == (a,) and appended.message.to == a
        membership = store.membership(direct(a, a), a)
        assert membership is not None and membership.unread_count() == 0

    # --- groups -------------------------------------------------------------------------

    def test_group_messages_need_a_member(self, store: ChatStore, clock: ManualTime) -> None:
        owner, member, outsider = new_user(), new_user(), new_user()
        g = make_group(store, clock, owner, member)
        appended = store.append(Draft(g.conversation, member, "hello all", "g-1"))
        assert appended.message.to == 0 and appended.message.group_id == g.group_id
        assert set(appended.members) == {owner, member}
        with pytest.raises(Forbidden):
            store.append(Draft(g.conversation, outsider, "let me in", "g-2"))
        with pytest.raises(NotFound):
            store.append(Draft(ConversationId.group(g.group_id + 1), owner, "x", "g-3"))

    def test_a_group_message_is_unread_before_its_fan_out(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        owner, member = new_user(), new_user()
        g = make_group(store, clock, owner, member)
        appended = store.append(Draft(g.conversation, owner, "just stored", "f-1"))
        (m,) = [x for x in store.memberships_of(member) if x.conversation == g.conversation]
        assert m.unread_count() == 1  # the conversation knows its newest seq already
        assert [x.id for x in store.unread(member, [m], 10, None)] == [appended.message.id]
        store.fan_out(appended.message)
        store.fan_out(appended.message)  # idempotent
        (summary,) = store.conversations(member, 10, None)[0]
        assert summary.last is not None and summary.last.seq == 1
        assert summary.membership.unread_count() == 1

    def test_group_ids_are_unique(self, store: ChatStore, clock: ManualTime) -> None:
        g = make_group(store, clock, new_user())
        assert store.create_group(Group(g.group_id, "again", new_user(), (1,), clock())) is False

    def test_membership_changes_are_compare_and_set(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        owner, a, b = new_user(), new_user(), new_user()
        g = make_group(store, clock, owner)
        grown = store.change_members(g, (owner, a), owner, clock())
        assert grown is not None and grown.members == (owner, a)
        assert store.change_members(g, (owner, b), owner, clock()) is None  # stale version
        group = store.group(g.group_id)
        assert group is not None and group.members == (owner, a)

    def test_a_new_member_sees_only_what_comes_after_joining(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        owner, late = new_user(), new_user()
        g = make_group(store, clock, owner)
        say(store, g.conversation, owner, "before")
        changed = store.change_members(g, (owner, late), owner, clock())
        assert changed is not None
        after = say(store, g.conversation, owner, "after")
        m = store.membership(g.conversation, late)
        assert m is not None and m.joined_seq == 1 and m.role is Role.MEMBER
        assert m.unread_count() == 1 and m.max_seq == after.seq
        assert [x.content for x in store.unread(late, [m], 10, None)] == ["after"]

    def test_removed_members_lose_their_membership(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        owner, gone = new_user(), new_user()
        g = make_group(store, clock, owner, gone)
        assert store.change_members(g, (owner,), owner, clock()) is not None
        assert store.membership(g.conversation, gone) is None
        with pytest.raises(Forbidden):
            store.append(Draft(g.conversation, gone, "still here?", "x"))

    def test_a_new_owner_gets_the_role(self, store: ChatStore, clock: ManualTime) -> None:
        owner, heir = new_user(), new_user()
        g = make_group(store, clock, owner, heir)
        assert store.change_members(g, (heir,), heir, clock()) is not None
        m = store.membership(g.conversation, heir)
        assert m is not None and m.role is Role.OWNER

    # --- read positions -----------------------------------------------------------------

    def test_own_messages_never_count_as_unread(self, store: ChatStore) -> None:
        a, b = new_user(), new_user()
        for sender in (a, b, a):
            say(store, direct(a, b), sender)
        ma, mb = store.membership(direct(a, b), a), store.membership(direct(a, b), b)
        assert ma is not None and mb is not None
        assert (ma.max_seq, ma.unread_count()) == (3, 1)
        assert (mb.max_seq, mb.unread_count()) == (3, 2)

    def test_change_read_is_atomic_and_reports_before_and_after(self, store: ChatStore) -> None:
        a, b = new_user(), new_user()
        for _ in range(3):
            say(store, direct(a, b), a)
        changed = store.change_read(direct(a, b), b, lambda r: r.with_read([2]))
        assert changed is not None
        before, after = changed
        assert before == ReadState() and after.has_read(2) and not after.has_read(1)
        m = store.membership(direct(a, b), b)
        assert m is not None and m.unread_count() == 2
        changed = store.change_read(direct(a, b), b, lambda r: r.up_to(1))
        assert changed is not None and changed[1].read_seq == 2  # 1, then 2 read already
        assert store.change_read(direct(a, b), new_user(), lambda r: r.up_to(1)) is None

    def test_peer_read_position_is_kept_for_the_other_user(self, store: ChatStore) -> None:
        a, b = new_user(), new_user()
        say(store, direct(a, b), a)
        store.note_peer_read(direct(a, b), a, 1)
        store.note_peer_read(direct(a, b), a, 0)  # never backwards
        m = store.membership(direct(a, b), a)
        assert m is not None and m.peer_read_seq == 1

    # --- unread (v1) --------------------------------------------------------------------

    def test_unread_spans_conversations_oldest_first_and_pages_by_cursor(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        me, a, b = new_user(), new_user(), new_user()
        g = make_group(store, clock, a, me, b)
        sent = [
            say(store, direct(me, a), a, "a1"),
            say(store, g.conversation, b, "g1"),
            say(store, direct(me, b), b, "b1"),
        ]
        say(store, g.conversation, me, "mine")  # not unread: my own
        sent.append(say(store, direct(me, a), a, "a2"))
        mine = [m for m in store.memberships_of(me) if m.unread_count()]
        first = store.unread(me, mine, 2, None)
        assert [m.content for m in first] == ["a1", "g1"]
        cursor = UnreadCursor(first[-1].created_at, first[-1].id)
        rest = store.unread(me, mine, 10, cursor)
        assert [m.content for m in rest] == ["b1", "a2"]
        assert [m.id for m in first + rest] == [m.id for m in sent]

    def test_unread_leaves_out_what_was_read_or_recalled(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        me, a = new_user(), new_user()
        c = direct(me, a)
        m1, m2, m3 = (say(store, c, a, t) for t in ("one", "two", "three"))
        store.change_read(c, me, lambda r: r.with_read([m2.seq], {m2.seq: m2.created_at}))
        assert store.recall(m3, clock()) is not None
        membership = store.membership(c, me)
        assert membership is not None and membership.unread_count() == 1
        assert [m.id for m in store.unread(me, [membership], 10, None)] == [m1.id]

    # --- recall -------------------------------------------------------------------------

    def test_recall_removes_the_content_once(self, store: ChatStore, clock: ManualTime) -> None:
        a, b = new_user(), new_user()
        m = say(store, direct(a, b), a, "oops")
        recalled = store.recall(m, clock())
        assert recalled is not None and recalled.recalled and recalled.content == ""
        assert recalled.updated_at > m.updated_at
        assert store.message(m.id) == recalled
        assert store.recall(m, clock()) is None

    def test_recall_updates_conversation_previews(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        a, b = new_user(), new_user()
        m = say(store, direct(a, b), a, "secret")
        store.recall(m, clock())
        (summary,), _ = store.conversations(b, 10, None)
        assert summary.last is not None
        assert summary.last.state is MessageState.RECALLED and summary.last.content == ""
        assert summary.membership.unread_count() == 0

    # --- history ------------------------------------------------------------------------

    def test_history_pages_both_ways_along_seq(self, store: ChatStore, clock: ManualTime) -> None:
        a, b = new_user(), new_user()
        c = direct(a, b)
        for i in range(7):
            say(store, c, a if i % 2 else b, f"m{i}")
        newest = store.history(c, floor=0, after=None, before=None, limit=3)
        assert [m.seq for m in newest] == [7, 6, 5]
        older = store.history(c, floor=0, after=None, before=5, limit=3)
        assert [m.seq for m in older] == [4, 3, 2]
        forward = store.history(c, floor=0, after=2, before=None, limit=3)
        assert [m.seq for m in forward] == [3, 4, 5]
        bounded = store.history(c, floor=3, after=None, before=6, limit=10)
        assert [m.seq for m in bounded] == [5, 4]

    def test_history_keeps_recalled_messages_as_recalled(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        a, b = new_user(), new_user()
        m = say(store, direct(a, b), a, "gone soon")
        store.recall(m, clock())
        (shown,) = store.history(direct(a, b), floor=0, after=None, before=None, limit=5)
        assert shown.recalled and shown.content == ""

    # --- conversation list --------------------------------------------------------------

    def test_conversation_list_is_newest_activity_first_with_previews_and_pages(
        self, store: ChatStore, clock: ManualTime
    ) -> None:
        me = new_user()
        peers = [new_user() for _ in range(5)]
        for p in peers:
            say(store, direct(me, p), p, f"from {p}")
        say(store, direct(me, peers[0]), me, "x" * 300)  # peers[0] is newest now
        first, cursor = store.conversations(me, 2, None)
        assert [s.membership.conversation for s in first] == [
            direct(me, peers[0]),
            direct(me, peers[4]),
        ]
        top = first[0].last
        assert top is not None and top.sender == me and top.truncated
        assert top.content == "x" * 200
        assert cursor is not None
        rest, end = store.conversations(me, 10, cursor)
        assert end is None
        assert [s.membership.conversation for s in rest] == [
            direct(me, p) for p in reversed(peers[1:4])
        ]
        assert [s.membership.unread_count() for s in first + rest] == [1, 1, 1, 1, 1]

    # --- ids ------------------------------------------------------------------------------

    @pytest.mark.parametrize("bad", ["", "zzzzzzzzzzzzzzzzzzzzzzzz", "1234", "x" * 24])
    def test_malformed_message_ids_are_bad_requests(self, store: ChatStore, bad: str) -> None:
        with pytest.raises(BadRequest):
            store.message(bad)
        with pytest.raises(BadRequest):
            store.messages(["0" * 24, bad])

    def test_unknown_message_ids_are_not_found(self, store: ChatStore) -> None:
        assert store.message("0" * 24) is None
        assert store.messages(["0" * 24]) == []
