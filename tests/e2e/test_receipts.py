"""Read receipts end to end (v1.1): every way of marking read tells the senders and the
reader's other devices, with the right ids and read position; the receipts route and a
group's member list say who has read what."""

from __future__ import annotations

from tests.e2e.support import Chat, Frame, Stack, direct_id, new_user


def receipt(ids: list[str], by: int, conversation_id: str, read_seq: int) -> Frame:
    return {
        "type": "read",
        "message_ids": ids,
        "by": by,
        "conversation_id": conversation_id,
        "read_seq": read_seq,
    }


def test_every_way_of_reading_a_direct_conversation_sends_receipts(stack: Stack) -> None:
    a, b = new_user(), new_user()
    conv = direct_id(a, b)
    with (
        stack.chat(a) as a_phone,
        stack.chat(a) as a_laptop,
        stack.chat(b) as b_phone,
        stack.chat(b) as b_laptop,
    ):
        ids = [a_phone.send(b, f"m{i}")["message_id"] for i in range(4)]  # seqs 1..4
        for chat in (a_laptop, b_phone, b_laptop):
            assert [m["id"] for m in chat.messages(4)] == ids
        first = stack.receipts(a, ids[0])
        assert (first["recipients"], first["read_count"], first["read_by"]) == (1, 0, [])

        def told(chats: tuple[Chat, ...], expected: Frame) -> None:
            for chat in chats:
                assert chat.expect("read") == expected
            for chat in (a_phone, a_laptop, b_phone, b_laptop):
                assert chat.pending(0.3 if chat is a_phone else 0) == []

        everyone = (a_phone, a_laptop, b_phone, b_laptop)
        # REST mark-read, out of order: the position stays at 0; all four connections hear
        assert stack.mark_read(b, [ids[1]]) == 1
        told(everyone, receipt([ids[1]], b, conv, 0))
        # WS `read` with ids: the gap closes, the position moves to 2; not the reading socket
        b_phone.read({"message_ids": [ids[0]]})
        told((a_phone, a_laptop, b_laptop), receipt([ids[0]], b, conv, 2))
        # WS `read` of the conversation up to seq 3
        b_laptop.read({"conversation_id": conv, "seq": 3})
        told((a_phone, a_laptop, b_phone), receipt([ids[2]], b, conv, 3))
        # REST conversation mark-read, to the newest
        done = stack.mark_conversation_read(b, conv)
        assert (done["read_seq"], done["unread_count"], done["updated"]) == (4, 0, 1)
        told(everyone, receipt([ids[3]], b, conv, 4))
        # reading again changes nothing and tells nobody
        assert stack.mark_read(b, ids) == 0
        assert stack.mark_conversation_read(b, conv)["updated"] == 0
        b_phone.read({"conversation_id": conv})
        told((), {})

    for seq, message_id in enumerate(ids, start=1):
        report = stack.receipts(a, message_id)
        assert report == {
            "message_id": message_id,
            "conversation_id": conv,
            "seq": seq,
            "recipients": 1,
            "read_count": 1,
            "read_by": [b],
        }
    page = stack.history(a, conv)
    assert [m["status"] for m in page["messages"]] == [1, 1, 1, 1]
    assert page["peer_read_seq"] == 4
    entry = stack.conversation(a, conv)
    assert entry is not None
    assert (entry["peer_read_seq"], entry["last_message"]["status"]) == (4, 1)
    # receipts are for the sender only
    assert stack.refusal("/api/v1/messages/receipts", {"message_id": ids[0]}, b)[0] == 403
    unknown = {"message_id": "0123456789abcdef01234567"}
    assert stack.refusal("/api/v1/messages/receipts", unknown, a)[0] == 404


def test_group_receipts_per_member(stack: Stack) -> None:
    owner, first, second = new_user(), new_user(), new_user()
    group = stack.create_group(owner, [first, second])
    gid, conv = group["group_id"], group["conversation_id"]
    with stack.chat(owner) as c_owner, stack.chat(first) as c_first:
        hello = c_owner.send_group(gid, "who reads me?")["message_id"]  # seq 1
        c_first.expect("message")
        report = stack.receipts(owner, hello)
        assert (report["recipients"], report["read_count"], report["read_by"]) == (2, 0, [])

        stack.mark_conversation_read(first, conv)
        for chat in (c_owner, c_first):  # the sender, and the reader's connection (REST)
            assert chat.expect("read") == receipt([hello], first, conv, 1)
        assert stack.receipts(owner, hello)["read_by"] == [first]

        # messages from two senders, read at once: each sender hears of their own
        reply = c_first.send_group(gid, "I did")["message_id"]  # seq 2
        c_owner.expect("message")
        more = c_owner.send_group(gid, "good")["message_id"]  # seq 3
        c_first.expect("message")
        stack.mark_conversation_read(second, conv)
        assert c_owner.expect("read") == receipt([hello, more], second, conv, 3)
        assert c_first.expect("read") == receipt([reply], second, conv, 3)
        assert c_owner.pending() == [] and c_first.pending(0) == []

    assert sorted(stack.receipts(owner, hello)["read_by"]) == sorted([first, second])
    more_report = stack.receipts(owner, more)
    assert (more_report["recipients"], more_report["read_by"]) == (2, [second])
    assert stack.receipts(first, reply)["read_by"] == [second]
    members = {m["user_id"]: m["read_seq"] for m in stack.group_members(second, gid)["members"]}
    # the owner wrote 1 and 3 but never read first's 2; first read 1 and then wrote 2
    assert members == {owner: 1, first: 2, second: 3}
    owner_entry = stack.conversation(owner, conv)
    assert owner_entry is not None and owner_entry["unread_count"] == 1
    assert stack.refusal("/api/v1/messages/receipts", {"message_id": hello}, first)[0] == 403
