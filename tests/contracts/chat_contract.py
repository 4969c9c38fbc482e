"""The chat use cases, end to end through their ports. Subclasses provide
`make_world(policy) -> World` (tests.contracts.chat_world) on fakes or on MongoDB and
Redis; the same assertions hold for both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from chalicelib.chat.domain import ConversationId
from chalicelib.chat.service import Policy
from chalicelib.errors import BadRequest, Forbidden, NotFound
from tests.contracts.chat_world import World, direct, new_user

MakeWorld = Callable[[Policy], World]


def group_of(world: World, owner: int, *members: int) -> int:
    return world.chat.groups.create(owner, "team", list(members)).group_id


class ChatContract:
    @pytest.fixture
    def world(self, make_world: MakeWorld) -> World:
        return make_world(Policy(recall_window=timedelta(minutes=2)))

    # --- send ---------------------------------------------------------------------------

    def test_a_send_reaches_the_recipients_devices_and_the_senders_other_devices(
        self, world: World
    ) -> None:
        a, b = new_user(), new_user()
        a_phone, a_laptop, b_phone, b_laptop = (world.connect(u) for u in (a, a, b, b))
        appended = world.send(a, "hello", to=b, via=a_phone)
        for connection in (b_phone, b_laptop, a_laptop):
            (frame,) = world.frames(connection, "message")
            assert frame["message"]["id"] == appended.message.id
            assert frame["conversation_id"] == str(direct(a, b)) and frame["seq"] == 1
            assert (frame["message"]["from"], frame["message"]["to"]) == (a, b)
        assert world.frames(a_phone) == []  # the sending connection only gets its ack
        assert [via for via, _ in world.acks] == [a_phone]

    def test_the_ack_comes_after_every_push(self, world: World) -> None:
        a, b = new_user(), new_user()
        sender, receivers = world.connect(a), [world.connect(b) for _ in range(3)]
        world.send(a, "in order", to=b, via=sender)
        kinds = [frame["type"] for _, frame in world.api.journal]
        assert kinds == ["message"] * len(receivers) + ["ack"]

    def test_a_big_fan_out_is_acknowledged_before_it_is_pushed(self, make_world: MakeWorld) -> None:
        world = make_world(Policy(push_before_ack_max=2))
        a, b = new_user(), new_user()
        sender = world.connect(a)
        for _ in range(3):
            world.connect(b)
        world.send(a, "many devices", to=b, via=sender)
        kinds = [frame["type"] for _, frame in world.api.journal]
        assert kinds == ["ack"] + ["message"] * 3

    def test_a_note_to_self_reaches_every_connection_of_its_writer(self, world: World) -> None:
        a = new_user()
        here, there = world.connect(a), world.connect(a)
        world.send(a, "note", to=a, via=here)
        assert world.contents(here) == ["note"] and world.contents(there) == ["note"]

    def test_a_retry_is_a_duplicate_that_nobody_receives_twice(self, world: World) -> None:
        a, b = new_user(), new_user()
        sender, receiver = world.connect(a), world.connect(b)
        first = world.send(a, "once", to=b, via=sender, ack_id="r-1")
        again = world.send(a, "once", to=b, via=sender, ack_id="r-1")
        assert again.duplicate and again.message.id == first.message.id
        assert world.contents(receiver) == ["once"]
        assert len(world.acks) == 2

    def test_group_sends_reach_members_only(self, world: World) -> None:
        owner, member, outsider = new_user(), new_user(), new_user()
        gid = group_of(world, owner, member)
        o, m, x = world.connect(owner), world.connect(member), world.connect(outsider)
        world.send(member, "to the team", group=gid, via=m)
        assert world.contents(o) == ["to the team"]
        assert world.contents(x) == [] and world.contents(m) == []
        with pytest.raises(Forbidden):
            world.send(outsider, "let me in", group=gid, via=x)
        with pytest.raises(NotFound):
            world.send(owner, "nobody", group=gid + 1, via=o)

    # --- read ---------------------------------------------------------------------------

    def test_mark_read_counts_only_the_callers_unread_messages(self, world: World) -> None:
        a, b, c = new_user(), new_user(), new_user()
        to_b = world.send(a, "for b", to=b).message
        to_c = world.send(a, "for c", to=c).message
        assert world.chat.mark_read(b, [to_b.id, to_c.id], None) == 1
        assert world.chat.mark_read(b, [to_b.id], None) == 0  # already read
        assert world.chat.mark_read(a, [to_c.id], None) == 0  # the sender cannot
        assert [m.id for m in world.chat.unread(c, 10, None).items] == [to_c.id]

    def test_one_malformed_id_changes_nothing(self, world: World) -> None:
        a, b = new_user(), new_user()
        m = world.send(a, "stays", to=b).message
        with pytest.raises(BadRequest):
            world.chat.mark_read(b, [m.id, "not-an-id"], None)
        assert [x.id for x in world.chat.unread(b, 10, None).items] == [m.id]

    def test_reading_tells_the_sender_and_the_readers_other_devices(self, world: World) -> None:
        a, b = new_user(), new_user()
        a_conn, b_here, b_there = world.connect(a), world.connect(b), world.connect(b)
        ids = [world.send(a, f"m{i}", to=b).message.id for i in range(2)]
        world.chat.mark_read(b, ids, b_here)
        (receipt,) = world.frames(a_conn, "read")
        assert receipt["message_ids"] == ids and receipt["by"] == b
        assert receipt["conversation_id"] == str(direct(a, b)) and receipt["read_seq"] == 2
        assert [f["message_ids"] for f in world.frames(b_there, "read")] == [ids]
        assert world.frames(b_here, "read") == []

    def test_marking_a_conversation_read_up_to_a_seq(self, world: World) -> None:
        a, b = new_user(), new_user()
        a_conn = world.connect(a)
        sent = [world.send(a, f"m{i}", to=b).message for i in range(5)]
        done = world.chat.mark_conversation_read(b, direct(a, b), 3, None)
        assert (done.read.read_seq, done.updated, done.unread_count) == (3, 3, 2)
        (receipt,) = world.frames(a_conn, "read")
        assert receipt["message_ids"] == [m.id for m in sent[:3]]
        rest = world.chat.mark_conversation_read(b, direct(a, b), None, None)
        assert (rest.read.read_seq, rest.updated, rest.unread_count) == (5, 2, 0)
        assert world.chat.unread(b, 10, None).items == []

    def test_group_reads_are_per_member(self, world: World) -> None:
        owner, m1, m2 = new_user(), new_user(), new_user()
        gid = group_of(world, owner, m1, m2)
        owner_conn = world.connect(owner)
        sent = [world.send(owner, f"g{i}", group=gid).message for i in range(3)]
        world.chat.mark_conversation_read(m1, ConversationId.group(gid), None, None)
        (receipt,) = world.frames(owner_conn, "read")
        assert receipt["by"] == m1 and receipt["message_ids"] == [m.id for m in sent]
        counts = {
            s.membership.user: s.membership.unread_count()
            for u in (owner, m1, m2)
            for s in world.chat.conversations(u, 10, None).items
        }
        assert counts == {owner: 0, m1: 0, m2: 3}
        report = world.chat.read_by(owner, sent[0].id)
        assert (report.recipients, report.read_by) == (2, [m1])
        with pytest.raises(Forbidden):
            world.chat.read_by(m1, sent[0].id)

    # --- recall -------------------------------------------------------------------------

    def test_recall_is_the_senders_within_the_window(self, world: World) -> None:
        a, b = new_user(), new_user()
        m = world.send(a, "oops", to=b).message
        with pytest.raises(Forbidden):
            world.chat.recall(b, m.id)
        late = world.send(a, "too late", to=b).message
        world.clock.advance(world.policy.recall_window.total_seconds() + 1)
        with pytest.raises(Forbidden):
            world.chat.recall(a, late.id)
        with pytest.raises(NotFound):
            world.chat.recall(a, "0" * 24)

    def test_recall_tells_every_member_and_leaves_unread(self, world: World) -> None:
        a, b = new_user(), new_user()
        a_other, b_conn = world.connect(a), world.connect(b)
        m = world.send(a, "secret", to=b).message
        recalled = world.chat.recall(a, m.id)
        assert recalled.recalled and recalled.content == ""
        for connection in (a_other, b_conn):
            (frame,) = world.frames(connection, "recalled")
            assert (frame["message_id"], frame["seq"], frame["by"]) == (m.id, 1, a)
        assert world.chat.unread(b, 10, None).items == []
        (summary,) = world.chat.conversations(b, 10, None).items
        assert summary.membership.unread_count() == 0
        again = world.chat.recall(a, m.id)  # idempotent, and nobody is told twice
        assert again.recalled and len(world.frames(b_conn, "recalled")) == 1

    # --- history ------------------------------------------------------------------------

    def test_history_status_is_the_recipients_read_state(self, world: World) -> None:
        a, b = new_user(), new_user()
        m1 = world.send(a, "one", to=b).message
        world.send(a, "two", to=b)
        world.chat.mark_read(b, [m1.id], None)
        for viewer in (a, b):
            page = world.chat.history(viewer, direct(a, b), None, None, 10)
            assert [(m.content, read) for m, read in page.messages] == [
                ("one", True),
                ("two", False),
            ]
            assert page.has_more is False

    def test_history_pages_back_and_forth(self, world: World) -> None:
        a, b = new_user(), new_user()
        for i in range(5):
            world.send(a, f"m{i}", to=b)
        newest = world.chat.history(b, direct(a, b), None, None, 2)
        assert [m.seq for m, _ in newest.messages] == [4, 5] and newest.has_more
        older = world.chat.history(b, direct(a, b), 4, None, 2)
        assert [m.seq for m, _ in older.messages] == [2, 3] and older.has_more
        oldest = world.chat.history(b, direct(a, b), 2, None, 2)
        assert [m.seq for m, _ in oldest.messages] == [1] and not oldest.has_more
        forward = world.chat.history(b, direct(a, b), None, 3, 10)
        assert [m.seq for m, _ in forward.messages] == [4, 5] and not forward.has_more

    def test_only_members_read_history(self, world: World) -> None:
        a, b, c = new_user(), new_user(), new_user()
        world.send(a, "private", to=b)
        with pytest.raises(Forbidden):
            world.chat.history(c, direct(a, b), None, None, 10)
        gid = group_of(world, a, b)
        with pytest.raises(Forbidden):
            world.chat.history(c, ConversationId.group(gid), None, None, 10)
        with pytest.raises(NotFound):
            world.chat.history(c, ConversationId.group(gid + 1), None, None, 10)
        empty = world.chat.history(a, direct(a, c), None, None, 10)
        assert empty.messages == [] and not empty.has_more

    # --- groups -------------------------------------------------------------------------

    def test_creating_a_group_tells_its_members(self, world: World) -> None:
        owner, member = new_user(), new_user()
        m_conn = world.connect(member)
        group = world.chat.groups.create(owner, "team", [member, member, owner])
        assert group.owner == owner and group.members == (owner, member)
        (frame,) = world.frames(m_conn, "group")
        assert (frame["event"], frame["group_id"], frame["user_ids"]) == (
            "created",
            group.group_id,
            [owner, member],
        )

    def test_only_the_owner_manages_members(self, world: World) -> None:
        owner, member, other = new_user(), new_user(), new_user()
        gid = group_of(world, owner, member)
        with pytest.raises(Forbidden):
            world.chat.groups.add(member, gid, [other])
        with pytest.raises(Forbidden):
            world.chat.groups.remove(member, gid, [owner])
        with pytest.raises(BadRequest):
            world.chat.groups.remove(owner, gid, [owner])
        with pytest.raises(NotFound):
            world.chat.groups.add(owner, gid + 1, [other])
        added = world.chat.groups.add(owner, gid, [other])
        assert added.members == (owner, member, other)

    def test_groups_have_a_size_limit(self, make_world: MakeWorld) -> None:
        world = make_world(Policy(max_group_members=3))
        owner = new_user()
        with pytest.raises(BadRequest):
            world.chat.groups.create(owner, "big", [new_user() for _ in range(3)])
        gid = group_of(world, owner, new_user())
        world.chat.groups.add(owner, gid, [new_user()])
        with pytest.raises(BadRequest):
            world.chat.groups.add(owner, gid, [new_user()])

    def test_a_removed_member_stops_receiving_and_reading(self, world: World) -> None:
        owner, member = new_user(), new_user()
        gid = group_of(world, owner, member)
        m_conn = world.connect(member)
        world.send(owner, "before", group=gid)
        world.chat.groups.remove(owner, gid, [member])
        world.send(owner, "after", group=gid)
        assert world.contents(m_conn) == ["before"]
        events = [f["event"] for f in world.frames(m_conn, "group")]
        assert events == ["members_removed"]  # connected after the group was created
        with pytest.raises(Forbidden):
            world.chat.history(member, ConversationId.group(gid), None, None, 10)
        assert world.chat.conversations(member, 10, None).items == []
        assert world.chat.unread(member, 10, None).items == []

    def test_a_leaving_owner_hands_over_to_the_earliest_member(self, world: World) -> None:
        owner, first, second = new_user(), new_user(), new_user()
        gid = group_of(world, owner, first, second)
        left = world.chat.groups.leave(owner, gid)
        assert left.owner == first and left.members == (first, second)
        with pytest.raises(Forbidden):
            world.chat.groups.leave(owner, gid)

    def test_a_member_lists_groups_and_members(self, world: World) -> None:
        owner, member, outsider = new_user(), new_user(), new_user()
        gid = group_of(world, owner, member)
        (view,) = world.chat.groups.mine(member)
        assert (view.group.group_id, view.role) == (gid, "member")
        group, members = world.chat.groups.members(member, gid)
        assert [m.user for m in members] == [owner, member]
        assert group.owner == owner
        with pytest.raises(Forbidden):
            world.chat.groups.members(outsider, gid)

    # --- unread (v1) and the conversation list ------------------------------------------

    def test_unread_includes_group_messages_and_pages(self, world: World) -> None:
        me, a = new_user(), new_user()
        gid = group_of(world, a, me)
        sent = []
        for i in range(3):
            sent.append(world.send(a, f"d{i}", to=me).message.id)
            sent.append(world.send(a, f"g{i}", group=gid).message.id)
        first = world.chat.unread(me, 4, None)
        assert first.next_cursor is not None
        rest = world.chat.unread(me, 4, first.next_cursor)
        assert rest.next_cursor is None
        assert [m.id for m in first.items + rest.items] == sent

    def test_an_unread_page_stops_at_its_byte_budget_but_never_empty(
        self, make_world: MakeWorld
    ) -> None:
        world = make_world(Policy(max_page_bytes=20_000))  # normally 4 MB
        me, a = new_user(), new_user()
        for _ in range(5):
            world.send(a, "x" * 8000, to=me)
        page = world.chat.unread(me, 100, None)
        assert len(page.items) == 2 and page.next_cursor is not None
        tiny = make_world(Policy(max_page_bytes=10))
        other = new_user()
        for _ in range(2):
            tiny.send(a, "y" * 100, to=other)
        assert len(tiny.chat.unread(other, 100, None).items) == 1

    def test_conversation_list_counts_and_receipts(self, world: World) -> None:
        me, a, b = new_user(), new_user(), new_user()
        world.send(a, "from a", to=me)
        mine = world.send(me, "to b", to=b).message
        (first, second) = world.chat.conversations(me, 10, None).items
        assert first.membership.conversation == direct(me, b)
        assert first.membership.unread_count() == 0 and second.membership.unread_count() == 1
        world.chat.mark_conversation_read(b, direct(me, b), None, None)
        (top, _) = world.chat.conversations(me, 10, None).items
        assert top.membership.peer_read_seq == mine.seq
