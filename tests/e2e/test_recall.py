"""Recall end to end (v1.1): only the sender, only within the window; the content leaves
history, unread, counts and previews; every member's connections are told once."""

from __future__ import annotations

import time

from tests.e2e.conftest import SHORT_RECALL_WINDOW_SECONDS
from tests.e2e.support import Frame, Stack, direct_id, new_user


def message_at(history: Frame, seq: int) -> Frame:
    found: list[Frame] = [m for m in history["messages"] if m["seq"] == seq]
    assert len(found) == 1, found
    return found[0]


def test_a_group_message_recalled_over_the_socket_is_gone_everywhere(stack: Stack) -> None:
    owner, member, offline = new_user(), new_user(), new_user()
    group = stack.create_group(owner, [member, offline])
    gid, conv = group["group_id"], group["conversation_id"]
    with (
        stack.chat(owner) as phone,
        stack.chat(owner) as laptop,
        stack.chat(member) as c_member,
    ):
        keep = phone.send_group(gid, "this one stays")
        oops = phone.send_group(gid, "this one goes")
        for chat in (laptop, c_member):
            assert len(chat.messages(2)) == 2

        # Given a member who tries to recall it
        mine_not = c_member.recall(oops["message_id"], request_id="not-yours")
        assert (mine_not["type"], mine_not["code"], mine_not["request_id"]) == (
            "error",
            "forbidden",
            "not-yours",
        )
        body = {"message_id": oops["message_id"]}
        assert stack.refusal("/api/v1/messages/recall", body, member)[0] == 403
        assert message_at(stack.history(offline, conv), 2)["content"] == "this one goes"

        # When its sender recalls it over the socket
        recalled = phone.recall(oops["message_id"])
        # Then every member's connections, the sending one included, get one `recalled`
        assert recalled["type"] == "recalled"
        assert (recalled["message_id"], recalled["conversation_id"], recalled["seq"]) == (
            oops["message_id"],
            conv,
            2,
        )
        assert recalled["by"] == owner and recalled["recalled_at"].endswith("Z")
        for chat in (laptop, c_member):
            assert chat.expect("recalled") == recalled
        for chat in (phone, laptop, c_member):
            assert chat.pending(0.3 if chat is phone else 0) == []

    # history keeps its place, without content
    for user in (owner, member, offline):
        page = stack.history(user, conv)
        assert [m["seq"] for m in page["messages"]] == [1, 2]
        gone = message_at(page, 2)
        assert (gone["id"], gone["status"], gone["content"]) == (oops["message_id"], 2, "")
        assert message_at(page, 1)["content"] == "this one stays"
    # out of unread and the counts; the list's preview shows it recalled
    assert [m["id"] for m in stack.all_unread(offline)] == [keep["message_id"]]
    for user in (member, offline):
        entry = stack.conversation(user, conv)
        assert entry is not None and entry["unread_count"] == 1
        last = entry["last_message"]
        assert (last["id"], last["status"], last["content"], last["content_truncated"]) == (
            oops["message_id"],
            2,
            "",
            False,
        )


def test_recall_over_rest_in_a_direct_conversation(stack: Stack) -> None:
    a, b = new_user(), new_user()
    conv = direct_id(a, b)
    with stack.chat(b) as b_phone, stack.chat(a) as a_phone:
        first = a_phone.send(b, "read this")
        second = a_phone.send(b, "not this")
        assert len(b_phone.messages(2)) == 2
        # b read the second one already (out of order), the first not yet
        assert stack.mark_read(b, [second["message_id"]]) == 1
        b_phone.expect("read")
        a_phone.expect("read")

        assert stack.refusal("/api/v1/messages/recall", {"message_id": first["message_id"]}, b)[
            0
        ] == (403)
        done = stack.recall(a, second["message_id"])
        assert done["success"] is True
        assert (done["message_id"], done["conversation_id"], done["seq"]) == (
            second["message_id"],
            conv,
            2,
        )
        # over REST there is no sending connection: all of a's and b's connections hear it
        for chat in (a_phone, b_phone):
            told = chat.expect("recalled")
            assert (told["message_id"], told["by"], told["recalled_at"]) == (
                second["message_id"],
                a,
                done["recalled_at"],
            )

        # Recall is idempotent: the same answer, and nobody is told again
        again = stack.recall(a, second["message_id"])
        assert again == done
        assert a_phone.pending() == [] and b_phone.pending(0) == []

    # it was read already, so b's count is still the first message only -- not 0, not 2
    entry = stack.conversation(b, conv)
    assert entry is not None and entry["unread_count"] == 1
    assert entry["last_message"]["status"] == 2 and entry["last_message"]["content"] == ""
    assert [m["id"] for m in stack.all_unread(b)] == [first["message_id"]]
    assert [(m["status"], m["content"]) for m in stack.history(a, conv)["messages"]] == [
        (0, "read this"),
        (2, ""),
    ]
    # a recalled message is not marked read later (nothing to read)
    assert stack.mark_read(b, [second["message_id"]]) == 0


def test_recalling_the_unread_last_message_takes_it_out_of_every_count(stack: Stack) -> None:
    a, b = new_user(), new_user()
    conv = direct_id(a, b)
    sent = [stack.send_rest(a, f"n{i}", to=b) for i in range(3)]
    entry = stack.conversation(b, conv)
    assert entry is not None and entry["unread_count"] == 3

    stack.recall(a, sent[2]["message_id"])
    entry = stack.conversation(b, conv)
    assert entry is not None and entry["unread_count"] == 2
    assert [m["id"] for m in stack.all_unread(b)] == [s["message_id"] for s in sent[:2]]
    # reading the whole conversation now counts the two, not the recalled one
    assert stack.mark_conversation_read(b, conv)["updated"] == 2


def test_recalling_twice_over_the_socket_answers_the_second_time_too(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat, stack.chat(b) as chat_b:
        sent = chat.send(b, "twice")
        chat_b.expect("message")
        first = chat.recall(sent["message_id"])
        assert chat_b.expect("recalled") == first
        # a client that lost the first answer asks again: it must hear back, and only it
        again = chat.recall(sent["message_id"])
        assert again == first
        assert chat_b.pending() == []


def test_unknown_message_is_404_and_not_found_over_the_socket(stack: Stack) -> None:
    user = new_user()
    unknown = "0123456789abcdef01234567"
    assert stack.refusal("/api/v1/messages/recall", {"message_id": unknown}, user)[0] == 404
    with stack.chat(user) as chat:
        error = chat.recall(unknown, request_id="who")
        assert (error["type"], error["code"], error["request_id"]) == ("error", "not_found", "who")


def test_a_message_older_than_the_recall_window_cannot_be_recalled(
    small_limits_stack: Stack,
) -> None:
    st = small_limits_stack
    a, b = new_user(), new_user()
    conv = direct_id(a, b)
    with st.chat(a) as chat:
        old = chat.send(b, "too late to take back")
        time.sleep(SHORT_RECALL_WINDOW_SECONDS + 0.1)
        refused = chat.recall(old["message_id"], request_id="late")
        assert (refused["type"], refused["code"], refused["request_id"]) == (
            "error",
            "forbidden",
            "late",
        )
    status, error = st.refusal("/api/v1/messages/recall", {"message_id": old["message_id"]}, a)
    assert status == 403 and "seconds" in error
    # nothing changed
    page = st.history(b, conv)
    assert [(m["status"], m["content"]) for m in page["messages"]] == [(0, "too late to take back")]
    assert [m["id"] for m in st.all_unread(b)] == [old["message_id"]]
