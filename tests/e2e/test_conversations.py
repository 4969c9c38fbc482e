"""Conversations end to end (v1.1): the sender's other devices, notes to self, sending
over REST, the conversation list and history paging in a quiet conversation."""

from __future__ import annotations

from typing import Any

from tests.e2e.support import V1_MESSAGE_FIELDS, Stack, direct_id, new_user


def test_the_senders_other_devices_get_the_message_copy(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as phone, stack.chat(a) as laptop, stack.chat(b) as chat_b:
        ack = phone.send(b, "keep my devices in sync")
        assert (ack["conversation_id"], ack["seq"]) == (direct_id(a, b), 1)
        for device in (laptop, chat_b):
            frame = device.expect("message")
            assert (frame["conversation_id"], frame["seq"]) == (direct_id(a, b), 1)
            assert frame["message"]["id"] == ack["message_id"]
            assert (frame["message"]["from"], frame["message"]["to"]) == (a, b)
        assert phone.pending() == []  # the sending connection has its ack only
        assert laptop.pending(0) == [] and chat_b.pending(0) == []


def test_a_note_to_self_reaches_every_connection_of_its_writer(stack: Stack) -> None:
    a = new_user()
    with stack.chat(a) as phone, stack.chat(a) as laptop:
        ack = phone.send(a, "note to self")
        for device in (phone, laptop):  # the sending one too
            frame = device.expect("message")
            assert frame["message"]["id"] == ack["message_id"]
            assert frame["conversation_id"] == f"d:{a}:{a}"
        assert phone.pending() == [] and laptop.pending(0) == []
    # your own messages are never unread
    assert stack.all_unread(a) == []
    entry = stack.conversation(a, f"d:{a}:{a}")
    assert entry is not None and (entry["peer"], entry["unread_count"]) == (a, 0)
    assert [m["content"] for m in stack.history(a, f"d:{a}:{a}")["messages"]] == ["note to self"]


def test_a_send_over_rest_is_stored_and_pushed_like_a_frame(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as phone, stack.chat(b) as chat_b:
        sent = stack.send_rest(a, "over REST", to=b, ack_id="rest-1")
        assert set(sent) == {
            "ack_id",
            "message_id",
            "created_at",
            "duplicate",
            "conversation_id",
            "seq",
        }
        assert (sent["ack_id"], sent["duplicate"], sent["conversation_id"], sent["seq"]) == (
            "rest-1",
            False,
            direct_id(a, b),
            1,
        )
        # no sending connection over REST: every connection of both users gets it
        for device in (phone, chat_b):
            assert device.expect("message")["message"]["id"] == sent["message_id"]
        again = stack.send_rest(a, "over REST, retried", to=b, ack_id="rest-1")
        assert (again["duplicate"], again["message_id"], again["seq"]) == (
            True,
            sent["message_id"],
            1,
        )
        assert phone.pending() == [] and chat_b.pending(0) == []
    assert [m["content"] for m in stack.all_unread(b)] == ["over REST"]


def test_the_conversation_list_is_newest_activity_first_and_pages_by_cursor(
    stack: Stack,
) -> None:
    me, p1, p2, p3 = new_user(), new_user(), new_user(), new_user()
    quiet = stack.create_group(me, [p1], name="quiet")  # no message yet
    for peer in (p1, p2, p3):
        stack.send_rest(peer, f"hi from {peer}", to=me)
    busy = stack.create_group(p2, [me], name="busy")
    long_text = "é" * 250
    stack.send_rest(p2, long_text, group_id=busy["group_id"])
    expected = [
        busy["conversation_id"],
        direct_id(me, p3),
        direct_id(me, p2),
        direct_id(me, p1),
        quiet["conversation_id"],
    ]

    pages: list[list[dict[str, Any]]] = []
    body: dict[str, Any] = {"limit": 2}
    while True:
        page = stack.conversations(me, **body)
        pages.append(page["conversations"])
        if page["next_cursor"] is None:
            break
        body["cursor"] = page["next_cursor"]
    assert [len(p) for p in pages] == [2, 2, 1]
    entries = {c["conversation_id"]: c for p in pages for c in p}
    assert [c["conversation_id"] for p in pages for c in p] == expected

    direct = entries[direct_id(me, p3)]
    assert (direct["kind"], direct["peer"], direct["group_id"], direct["name"]) == (
        "direct",
        p3,
        None,
        None,
    )
    assert (direct["max_seq"], direct["read_seq"], direct["unread_count"]) == (1, 0, 1)
    assert direct["peer_read_seq"] == 0
    assert direct["last_message"]["content"] == f"hi from {p3}"
    assert direct["last_activity_at"] == direct["last_message"]["created_at"]
    group = entries[busy["conversation_id"]]
    assert (group["kind"], group["group_id"], group["name"], group["peer"]) == (
        "group",
        busy["group_id"],
        "busy",
        None,
    )
    assert group["peer_read_seq"] is None and group["unread_count"] == 1
    last = group["last_message"]
    assert (last["content"], last["content_truncated"], last["from"]) == (
        long_text[:200],
        True,
        p2,
    )
    empty = entries[quiet["conversation_id"]]
    assert (empty["last_message"], empty["max_seq"], empty["unread_count"]) == (None, 0, 0)

    # new activity moves a conversation to the top; my own message shows read once read
    stack.send_rest(me, "back to you", to=p1)
    top = stack.conversations(me, limit=1)["conversations"][0]
    assert top["conversation_id"] == direct_id(me, p1)
    assert (top["last_message"]["from"], top["last_message"]["status"]) == (me, 0)
    assert top["unread_count"] == 1  # p1's message is still unread; mine never counts
    stack.mark_conversation_read(p1, direct_id(me, p1))
    top = stack.conversations(me, limit=1)["conversations"][0]
    assert (top["last_message"]["status"], top["peer_read_seq"]) == (1, 2)


def test_history_pages_by_seq_in_both_directions(stack: Stack) -> None:
    a, b = new_user(), new_user()
    conv = direct_id(a, b)
    sent = [stack.send_rest(a if i % 3 else b, f"h{i}", to=b if i % 3 else a) for i in range(25)]
    assert [s["seq"] for s in sent] == list(range(1, 26))

    def seqs(**body: Any) -> tuple[list[int], bool]:
        page = stack.history(a, conv, **body)
        for m in page["messages"]:
            assert set(m) == V1_MESSAGE_FIELDS | {"conversation_id", "seq"}
            assert m["conversation_id"] == conv
            assert m["content"] == f"h{m['seq'] - 1}"
            assert m["id"] == sent[m["seq"] - 1]["message_id"]
        return [m["seq"] for m in page["messages"]], page["has_more"]

    assert seqs(limit=10) == (list(range(16, 26)), True)
    assert seqs(limit=10, before_seq=16) == (list(range(6, 16)), True)
    assert seqs(limit=10, before_seq=6) == ([1, 2, 3, 4, 5], False)
    assert seqs(limit=10, after_seq=0) == (list(range(1, 11)), True)
    assert seqs(limit=10, after_seq=20) == ([21, 22, 23, 24, 25], False)
    assert seqs(after_seq=25) == ([], False)
    assert seqs() == (list(range(1, 26)), False)
    # b wrote seqs 1, 4, ..., 25 and read nothing; a has not read b's seq 1
    page = stack.history(b, conv, limit=1)
    assert (page["max_seq"], page["read_seq"], page["peer_read_seq"]) == (25, 1, 0)
    counts = {u: stack.conversation(u, conv)["unread_count"] for u in (a, b)}  # type: ignore[index]
    assert counts == {a: 9, b: 16}
    # a pair that has never written is an empty conversation, not an error
    empty = stack.history(a, direct_id(a, new_user()))
    assert (empty["messages"], empty["has_more"], empty["max_seq"]) == ([], False, 0)


def test_a_direct_conversation_of_two_other_users_is_forbidden(stack: Stack) -> None:
    a, b, outsider = new_user(), new_user(), new_user()
    stack.send_rest(a, "private", to=b)
    conv = direct_id(a, b)
    for path in ("/api/v1/conversations/history", "/api/v1/conversations/mark-read"):
        assert stack.refusal(path, {"conversation_id": conv}, outsider)[0] == 403
    with stack.chat(outsider) as chat:
        chat.send_frame({"action": "read", "conversation_id": conv, "request_id": "peek"})
        error = chat.expect("error")
        assert (error["code"], error["request_id"]) == ("forbidden", "peek")
    entry = stack.conversation(b, conv)
    assert entry is not None and entry["unread_count"] == 1
