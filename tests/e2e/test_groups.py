"""Groups end to end (v1.1): fan-out to every device, offline members, joining late,
removal and leaving, ownership, and the refusals -- through the gateway, with real
WebSocket clients and the REST routes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import SMALL_GROUP_MAX_MEMBERS
from tests.e2e.support import V1_MESSAGE_FIELDS, Chat, Frame, Stack, new_user


@pytest.fixture
def three_users_two_devices(stack: Stack) -> Iterator[dict[int, list[Chat]]]:
    users = [new_user() for _ in range(3)]
    devices = {u: [stack.chat(u), stack.chat(u)] for u in users}
    try:
        yield devices
    finally:
        for chats in devices.values():
            for chat in chats:
                chat.close()


def test_every_connection_but_the_sending_one_gets_each_group_message_once_in_order(
    stack: Stack, three_users_two_devices: dict[int, list[Chat]]
) -> None:
    owner, *others = three_users_two_devices
    connections = [c for chats in three_users_two_devices.values() for c in chats]
    name = {
        id(c): f"u{u}d{d}" for u, cs in three_users_two_devices.items() for d, c in enumerate(cs)
    }
    group = stack.create_group(owner, others)
    gid, conv = group["group_id"], group["conversation_id"]
    for chat in connections:
        created = chat.expect("group")
        assert (created["event"], created["group_id"], created["by"]) == ("created", gid, owner)
        assert created["user_ids"] == [owner, *others]

    # Given six connections that take turns, each waiting for its ack
    sent: list[tuple[Chat, Frame]] = []
    for turn in range(3):
        for chat in connections:
            ack = chat.send_group(gid, f"{name[id(chat)]} turn {turn}")
            assert ack["type"] == "ack", ack
            sent.append((chat, ack))
    # Then the group numbers them in send order
    assert [a["seq"] for _, a in sent] == list(range(1, len(sent) + 1))
    assert {a["conversation_id"] for _, a in sent} == {conv}
    # And every other connection -- the sender's other device too -- gets each once, in order
    for chat in connections:
        expected = [a for sender, a in sent if sender is not chat]
        got = [chat.expect("message") for _ in expected]
        assert [f["message"]["id"] for f in got] == [a["message_id"] for a in expected]
        assert [f["seq"] for f in got] == [a["seq"] for a in expected]
        for frame in got:
            assert frame["conversation_id"] == conv
            message = frame["message"]
            assert set(message) == V1_MESSAGE_FIELDS  # the v1 object, unchanged
            assert (message["group_id"], message["to"], message["status"]) == (gid, 0, 0)
        assert chat.pending(0.3 if chat is connections[0] else 0) == []

    # When all six send at once, five messages each
    acks: dict[int, list[Frame]] = {id(c): [] for c in connections}
    errors: list[BaseException] = []

    def burst(chat: Chat) -> None:
        try:
            for i in range(5):
                acks[id(chat)].append(chat.send_group(gid, f"{name[id(chat)]} burst {i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=burst, args=(c,)) for c in connections]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(a["type"] == "ack" for chat_acks in acks.values() for a in chat_acks)
    all_seqs = [a["seq"] for chat_acks in acks.values() for a in chat_acks]
    assert sorted(all_seqs) == list(range(len(sent) + 1, len(sent) + 31))
    # Then each connection gets the other 25, each once, every sender's in its order
    for chat in connections:
        got = [chat.expect("message") for _ in range(25)]
        ids = [f["message"]["id"] for f in got]
        assert len(set(ids)) == 25
        for other in connections:
            theirs = [i for i in ids if i in {a["message_id"] for a in acks[id(other)]}]
            expected = [] if other is chat else [a["message_id"] for a in acks[id(other)]]
            assert theirs == expected
        assert chat.pending(0.3 if chat is connections[0] else 0) == []


def test_an_offline_member_finds_group_messages_in_unread_the_list_and_history(
    stack: Stack,
) -> None:
    owner, online, offline = new_user(), new_user(), new_user()
    group = stack.create_group(owner, [online, offline], name="offline test")
    gid, conv = group["group_id"], group["conversation_id"]
    with stack.chat(owner) as chat_owner, stack.chat(online) as chat_online:
        acks = [chat_owner.send_group(gid, f"from the owner {i}") for i in range(3)]
        acks += [chat_online.send_group(gid, f"from online {i}") for i in range(2)]
    ids = [a["message_id"] for a in acks]

    # v1 unread: the group messages, as v1 message objects, oldest first
    unread = stack.all_unread(offline)
    assert [m["id"] for m in unread] == ids
    assert [m["from"] for m in unread] == [owner] * 3 + [online] * 2
    for message in unread:
        assert set(message) == V1_MESSAGE_FIELDS
        assert (message["group_id"], message["to"], message["status"]) == (gid, 0, 0)

    # the conversation list counts them and shows the last one
    entry = stack.conversation(offline, conv)
    assert entry is not None
    assert (entry["kind"], entry["group_id"], entry["name"], entry["peer"]) == (
        "group",
        gid,
        "offline test",
        None,
    )
    assert (entry["max_seq"], entry["read_seq"], entry["unread_count"]) == (5, 0, 5)
    last = entry["last_message"]
    assert (last["id"], last["seq"], last["from"], last["content"], last["status"]) == (
        ids[-1],
        5,
        online,
        "from online 1",
        0,
    )
    # the online member was pushed the messages but has not read the owner's three
    online_entry = stack.conversation(online, conv)
    assert online_entry is not None and online_entry["unread_count"] == 3
    owner_entry = stack.conversation(owner, conv)
    assert owner_entry is not None and owner_entry["unread_count"] == 2

    # history: all five in seq order; the caller's own count as read
    page = stack.history(offline, conv)
    assert [m["id"] for m in page["messages"]] == ids
    assert [m["seq"] for m in page["messages"]] == [1, 2, 3, 4, 5]
    assert [m["status"] for m in page["messages"]] == [0] * 5
    assert (page["has_more"], page["max_seq"], page["read_seq"]) == (False, 5, 0)
    assert [m["status"] for m in stack.history(owner, conv)["messages"]] == [1, 1, 1, 0, 0]

    # reading the conversation clears every view of it
    done = stack.mark_conversation_read(offline, conv)
    assert (done["read_seq"], done["unread_count"], done["updated"]) == (5, 0, 5)
    assert stack.all_unread(offline) == []
    entry = stack.conversation(offline, conv)
    assert entry is not None and entry["unread_count"] == 0
    assert [m["status"] for m in stack.history(offline, conv)["messages"]] == [1] * 5


def test_a_member_added_later_sees_only_what_was_sent_after_joining(stack: Stack) -> None:
    owner, early, late = new_user(), new_user(), new_user()
    group = stack.create_group(owner, [early])
    gid, conv = group["group_id"], group["conversation_id"]
    before = stack.send_rest(owner, "before you came", group_id=gid)
    with stack.chat(early) as c_early, stack.chat(late) as c_late:
        assert stack.add_members(owner, gid, [late])["member_count"] == 3
        for chat in (c_early, c_late):  # the members after the change hear of it
            event = chat.expect("group")
            assert (event["event"], event["by"], event["user_ids"], event["name"]) == (
                "members_added",
                owner,
                [late],
                "team",
            )
        after = stack.send_rest(owner, "welcome", group_id=gid)
        for chat in (c_early, c_late):
            assert chat.expect("message")["message"]["id"] == after["message_id"]
        assert c_late.pending() == [] and c_early.pending(0) == []

    assert [m["id"] for m in stack.full_history(late, conv)] == [after["message_id"]]
    assert [m["id"] for m in stack.all_unread(late)] == [after["message_id"]]
    entry = stack.conversation(late, conv)
    assert entry is not None and entry["unread_count"] == 1
    assert stack.mark_read(late, [before["message_id"]]) == 0  # never theirs to read
    assert [m["id"] for m in stack.full_history(early, conv)] == [
        before["message_id"],
        after["message_id"],
    ]
    assert stack.member_ids(owner, gid) == [owner, early, late]


def test_a_removed_member_stops_receiving_and_loses_the_group(stack: Stack) -> None:
    owner, stays, removed = new_user(), new_user(), new_user()
    group = stack.create_group(owner, [stays, removed])
    gid, conv = group["group_id"], group["conversation_id"]
    with stack.chat(owner) as c_owner, stack.chat(stays) as c_stays, stack.chat(removed) as c_gone:
        before = c_owner.send_group(gid, "before the removal")
        for chat in (c_stays, c_gone):
            assert chat.expect("message")["message"]["id"] == before["message_id"]

        # When the owner removes a member
        changed = stack.remove_members(owner, gid, [removed])
        assert changed["member_count"] == 2
        for chat in (c_owner, c_stays, c_gone):  # everyone concerned hears of it
            event = chat.expect("group")
            assert (event["event"], event["by"], event["user_ids"]) == (
                "members_removed",
                owner,
                [removed],
            )
        after = c_owner.send_group(gid, "after the removal")

        # Then the member still in gets it, the removed one gets nothing at all
        assert c_stays.expect("message")["message"]["id"] == after["message_id"]
        assert c_gone.pending() == []
        refused = c_gone.send_group(gid, "am I still in?")
        assert (refused["type"], refused["code"]) == ("error", "forbidden")
        assert c_stays.pending(0) == [] and c_owner.pending(0) == []

    for path in ("/api/v1/conversations/history", "/api/v1/conversations/mark-read"):
        assert stack.refusal(path, {"conversation_id": conv}, removed)[0] == 403
    assert stack.refusal("/api/v1/groups/members", {"group_id": gid}, removed)[0] == 403
    assert stack.conversation(removed, conv) is None
    assert gid not in [g["group_id"] for g in stack.groups(removed)]
    assert stack.all_unread(removed) == []  # "before" was unread: it left with the group
    assert stack.mark_read(removed, [before["message_id"], after["message_id"]]) == 0
    assert stack.member_ids(owner, gid) == [owner, stays]
    assert [m["content"] for m in stack.full_history(stays, conv)] == [
        "before the removal",
        "after the removal",
    ]


def test_leaving_works_like_removal_and_an_owner_leaving_hands_over_to_the_earliest(
    stack: Stack,
) -> None:
    owner, first, second, late = new_user(), new_user(), new_user(), new_user()
    group = stack.create_group(owner, [first, second])
    gid, conv = group["group_id"], group["conversation_id"]
    stack.add_members(owner, gid, [late])

    with stack.chat(first) as c_first, stack.chat(second) as c_second:
        # When a member leaves
        assert stack.leave(second, gid) == {"success": True, "group_id": gid}
        for chat in (c_first, c_second):
            event = chat.expect("group")
            assert (event["event"], event["by"], event["user_ids"]) == (
                "member_left",
                second,
                [second],
            )
        sent = stack.send_rest(owner, "after second left", group_id=gid)
        # Then they stop receiving and lose the group, as a removed member does
        assert c_first.expect("message")["message"]["id"] == sent["message_id"]
        assert c_second.pending() == []
    assert stack.refusal("/api/v1/conversations/history", {"conversation_id": conv}, second)[0] == (
        403
    )
    assert stack.conversation(second, conv) is None
    assert stack.refusal("/api/v1/groups/leave", {"group_id": gid}, second)[0] == 403

    # When the owner leaves, the member who joined earliest owns the group
    stack.leave(owner, gid)
    members = stack.group_members(first, gid)
    assert members["owner"] == first
    assert [(m["user_id"], m["role"]) for m in members["members"]] == [
        (first, "owner"),
        (late, "member"),
    ]
    mine = [g for g in stack.groups(first) if g["group_id"] == gid]
    assert [(g["owner"], g["role"], g["member_count"]) for g in mine] == [(first, "owner", 2)]
    theirs = [g for g in stack.groups(late) if g["group_id"] == gid]
    assert [(g["owner"], g["role"]) for g in theirs] == [(first, "member")]
    # And the new owner changes members; the old one is not even a member any more
    body = {"group_id": gid, "user_ids": [second]}
    assert stack.refusal("/api/v1/groups/add-members", body, owner)[0] == 403
    assert stack.add_members(first, gid, [second])["member_count"] == 3
    assert stack.member_ids(first, gid) == [first, late, second]


@pytest.mark.parametrize("path", ["/api/v1/groups/add-members", "/api/v1/groups/remove-members"])
def test_only_the_owner_changes_members(stack: Stack, path: str) -> None:
    owner, member, outsider, other = new_user(), new_user(), new_user(), new_user()
    gid = stack.create_group(owner, [member, other])["group_id"]
    for actor, target in ((member, outsider), (member, other), (outsider, member)):
        assert stack.refusal(path, {"group_id": gid, "user_ids": [target]}, actor)[0] == 403
    assert stack.member_ids(owner, gid) == [owner, member, other]


def test_the_owner_cannot_be_removed(stack: Stack) -> None:
    owner, member = new_user(), new_user()
    gid = stack.create_group(owner, [member])["group_id"]
    body = {"group_id": gid, "user_ids": [member, owner]}
    assert stack.refusal("/api/v1/groups/remove-members", body, owner)[0] == 400
    assert stack.member_ids(owner, gid) == [owner, member]  # nobody was removed


UNKNOWN_GROUP = 987_654_321_012  # ids are random in 1..2^53: this one is never taken


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/groups/members", {"group_id": UNKNOWN_GROUP}),
        ("/api/v1/groups/add-members", {"group_id": UNKNOWN_GROUP, "user_ids": [5]}),
        ("/api/v1/groups/remove-members", {"group_id": UNKNOWN_GROUP, "user_ids": [5]}),
        ("/api/v1/groups/leave", {"group_id": UNKNOWN_GROUP}),
        ("/api/v1/conversations/history", {"conversation_id": f"g:{UNKNOWN_GROUP}"}),
        ("/api/v1/conversations/mark-read", {"conversation_id": f"g:{UNKNOWN_GROUP}"}),
        ("/api/v1/messages/send", {"group_id": UNKNOWN_GROUP, "content": "x", "ack_id": "u"}),
    ],
)
def test_an_unknown_group_is_404(stack: Stack, path: str, body: Frame) -> None:
    assert stack.refusal(path, body, new_user())[0] == 404


def test_sending_to_an_unknown_group_or_one_you_are_not_in_is_refused_over_the_socket(
    stack: Stack,
) -> None:
    owner, member, outsider = new_user(), new_user(), new_user()
    group = stack.create_group(owner, [member])
    gid, conv = group["group_id"], group["conversation_id"]
    with stack.chat(outsider) as chat, stack.chat(member) as c_member:
        unknown = chat.send_group(UNKNOWN_GROUP, "anyone?", ack_id="g-unknown")
        assert (unknown["type"], unknown["code"], unknown["ack_id"]) == (
            "error",
            "not_found",
            "g-unknown",
        )
        forbidden = chat.send_group(gid, "let me in", ack_id="g-outsider")
        assert (forbidden["type"], forbidden["code"], forbidden["ack_id"]) == (
            "error",
            "forbidden",
            "g-outsider",
        )
        assert c_member.pending() == []
    body = {"group_id": gid, "content": "over REST", "ack_id": "g-outsider-rest"}
    assert stack.refusal("/api/v1/messages/send", body, outsider)[0] == 403
    assert stack.full_history(owner, conv) == []  # nothing was stored
    for path, ref in (
        ("/api/v1/conversations/history", {"conversation_id": conv}),
        ("/api/v1/conversations/mark-read", {"conversation_id": conv}),
        ("/api/v1/groups/members", {"group_id": gid}),
        ("/api/v1/groups/leave", {"group_id": gid}),
    ):
        assert stack.refusal(path, ref, outsider)[0] == 403


def test_a_group_holds_at_most_the_configured_number_of_members(
    small_limits_stack: Stack,
) -> None:
    st = small_limits_stack
    owner, a, b, c = new_user(), new_user(), new_user(), new_user()
    too_many = {"name": "too big", "members": [a, b, c]}
    assert st.refusal("/api/v1/groups/create", too_many, owner)[0] == 400
    assert st.groups(owner) == []  # nothing was created

    # duplicates and the owner named again count once
    group = st.create_group(owner, [a, b, a, owner])
    assert group["member_count"] == SMALL_GROUP_MAX_MEMBERS
    gid = group["group_id"]
    full = {"group_id": gid, "user_ids": [c]}
    assert st.refusal("/api/v1/groups/add-members", full, owner)[0] == 400
    assert st.member_ids(owner, gid) == [owner, a, b]
    # room again after a removal
    st.remove_members(owner, gid, [b])
    assert st.add_members(owner, gid, [c])["member_count"] == SMALL_GROUP_MAX_MEMBERS
    assert st.member_ids(owner, gid) == [owner, a, c]
