"""Offline messages: unread over REST, oldest first, paged by cursor, then mark-read."""

from __future__ import annotations

from tests.e2e.support import Stack, new_user


def test_offline_messages_wait_as_unread_oldest_first_then_mark_read_empties(
    stack: Stack,
) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a:  # b is offline
        acks = [chat_a.send(b, f"while you were out {i}") for i in range(5)]

    page = stack.unread(b)
    assert [m["id"] for m in page["messages"]] == [x["message_id"] for x in acks]
    assert [m["content"] for m in page["messages"]] == [f"while you were out {i}" for i in range(5)]
    assert page["total"] == 5 and page["next_cursor"] is None
    assert all(m["status"] == 0 and m["to"] == b and m["from"] == a for m in page["messages"])

    assert stack.mark_read(b, [m["id"] for m in page["messages"]]) == 5
    assert stack.unread(b) == {"messages": [], "total": 0, "next_cursor": None}
    assert stack.mark_read(b, [acks[0]["message_id"]]) == 0  # already read


def test_paging_over_250_unread_sees_each_once_in_order(stack: Stack) -> None:
    senders = [new_user() for _ in range(5)]
    b = new_user()
    chats = [stack.chat(s) for s in senders]
    sent: list[str] = []
    try:
        for i in range(50):  # round-robin, so every sender stays far below any rate limit
            for chat in chats:
                sent.append(chat.send(b, f"{chat.user}:{i}")["message_id"])
    finally:
        for chat in chats:
            chat.close()

    pages = []
    cursor = None
    while True:
        body = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = stack.unread(b, **body)
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [p["total"] for p in pages] == [100, 100, 50]
    seen = [m["id"] for p in pages for m in p["messages"]]
    assert seen == sent

    created = [m["created_at"] for p in pages for m in p["messages"]]
    assert created == sorted(created)
    for start in range(0, 250, 100):  # mark-read in batches, as a client would
        assert stack.mark_read(b, seen[start : start + 100]) == len(seen[start : start + 100])
    assert stack.all_unread(b) == []


def test_read_frame_marks_own_messages_read(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a, stack.chat(b) as chat_b:
        ack = chat_a.send(b, "read me over the socket")
        chat_b.expect("message")
        chat_b.send_frame({"action": "read", "message_ids": [ack["message_id"]]})
        chat_b.ping()  # frames from one connection are handled in order
    assert stack.all_unread(b) == []


def test_mark_read_only_touches_the_callers_messages(stack: Stack) -> None:
    a, b, c = new_user(), new_user(), new_user()
    with stack.chat(a) as chat_a:
        to_b = chat_a.send(b, "for b")["message_id"]
        to_c = chat_a.send(c, "for c")["message_id"]

    assert stack.mark_read(b, [to_b, to_c]) == 1
    assert [m["id"] for m in stack.all_unread(c)] == [to_c]
    assert stack.mark_read(a, [to_c]) == 0  # the sender cannot mark it read either
    assert [m["id"] for m in stack.all_unread(c)] == [to_c]


def test_a_page_stays_under_a_mebibyte_however_much_is_asked(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a:
        for i in range(140):  # 140 x 8,000 characters: more than a MiB of JSON
            assert chat_a.send(b, f"{i:03d}" + "x" * 7997)["type"] == "ack"
    response = stack.post("/api/v1/messages/unread", {"limit": 500}, stack.token(b))
    assert response.status_code == 200
    assert len(response.content) <= 1024 * 1024
    first = response.json()
    assert 0 < first["total"] < 140 and first["next_cursor"] is not None
    assert len(stack.all_unread(b, limit=500)) == 140  # nothing is lost, only paged
