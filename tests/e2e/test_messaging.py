"""Realtime chat through the gateway: both directions, many users, order, devices, retries."""

from __future__ import annotations

import threading
import uuid

from tests.e2e.support import Stack, new_user


def test_a_to_b_and_b_to_a(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a, stack.chat(b) as chat_b:
        ack = chat_a.send(b, "hello B", ack_id="a-1")
        got = chat_b.expect("message")["message"]

        assert ack["type"] == "ack" and ack["duplicate"] is False
        assert got["id"] == ack["message_id"]
        assert (got["from"], got["to"], got["content"], got["status"]) == (a, b, "hello B", 0)
        assert got["created_at"] == ack["created_at"]

        back = chat_b.send(a, "hello A")
        got_back = chat_a.expect("message")["message"]
        assert back["type"] == "ack"
        assert (got_back["from"], got_back["to"], got_back["content"]) == (b, a, "hello A")


def test_message_object_has_every_contract_field(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a, stack.chat(b) as chat_b:
        chat_a.send(b, "fields", ack_id="f-1", extra={"msg_type": 3})
        got = chat_b.expect("message")["message"]
    assert set(got) == {
        "id",
        "from",
        "to",
        "group_id",
        "content",
        "msg_type",
        "ack_id",
        "status",
        "created_at",
        "updated_at",
    }
    assert len(got["id"]) == 24 and int(got["id"], 16) >= 0
    assert (got["group_id"], got["msg_type"], got["ack_id"]) == (0, 3, "f-1")
    assert got["created_at"].endswith("Z") and len(got["created_at"]) == 24  # ms precision


def test_a_sender_that_waits_for_acks_is_delivered_in_order(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a, stack.chat(b) as chat_b:
        for i in range(30):
            assert chat_a.send(b, f"n{i}")["type"] == "ack"
        got = [m["content"] for m in chat_b.messages(30)]
    assert got == [f"n{i}" for i in range(30)]


def test_many_users_chat_in_both_directions_at_once(stack: Stack) -> None:
    pairs = [(new_user(), new_user()) for _ in range(12)]
    chats = {u: stack.chat(u) for pair in pairs for u in pair}
    errors: list[BaseException] = []

    def converse(me: int, peer: int) -> None:
        try:
            for i in range(10):
                assert chats[me].send(peer, f"{me}->{peer} #{i}")["type"] == "ack"
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=converse, args=p) for p in pairs]
        threads += [threading.Thread(target=converse, args=p[::-1]) for p in pairs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        for a, b in pairs:
            for me, peer in ((a, b), (b, a)):
                got = [m["content"] for m in chats[me].messages(10)]
                assert got == [f"{peer}->{me} #{i}" for i in range(10)]
                assert [f for f in chats[me].pending(0) if f["type"] == "message"] == []
    finally:
        for chat in chats.values():
            chat.close()


def test_every_device_of_the_recipient_gets_the_message_once(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a, stack.chat(b) as phone, stack.chat(b) as laptop:
        ack = chat_a.send(b, "to both devices")
        for device in (phone, laptop):
            assert device.expect("message")["message"]["id"] == ack["message_id"]
            assert device.pending() == []
        assert chat_a.pending(0) == []  # the sender gets its ack and nothing else


def test_retried_ack_id_is_stored_and_delivered_once(stack: Stack) -> None:
    a, b = new_user(), new_user()
    ack_id = f"retry-{uuid.uuid4().hex[:8]}"
    with stack.chat(a) as chat_a, stack.chat(b) as chat_b:
        first = chat_a.send(b, "once", ack_id=ack_id)
        again = chat_a.send(b, "once, retried", ack_id=ack_id)

        assert first["duplicate"] is False and again["duplicate"] is True
        assert again["message_id"] == first["message_id"]
        assert again["created_at"] == first["created_at"]
        assert chat_b.expect("message")["message"]["content"] == "once"
        assert chat_b.pending() == []
    unread = stack.all_unread(b)
    assert [m["id"] for m in unread] == [first["message_id"]]


def test_spoofed_from_in_a_frame_is_ignored(stack: Stack) -> None:
    a, b, victim = new_user(), new_user(), new_user()
    with stack.chat(a) as chat_a, stack.chat(b) as chat_b:
        ack = chat_a.send(b, "who am I", extra={"from": victim})
        got = chat_b.expect("message")["message"]
    assert ack["type"] == "ack"
    assert got["from"] == a
    assert stack.all_unread(b)[0]["from"] == a


def test_sending_to_yourself_reaches_your_connections(stack: Stack) -> None:
    a = new_user()
    with stack.chat(a) as chat:
        ack = chat.send(a, "note to self")
        assert chat.expect("message")["message"]["id"] == ack["message_id"]


def test_ping_is_answered_with_pong(stack: Stack) -> None:
    with stack.chat(new_user()) as chat:
        chat.send_frame({"action": "ping"})
        assert chat.expect("pong") == {"type": "pong"}
