"""The terminal client (clients/terminal) against the real stack, under Textual's pilot."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import redis

from chalicelib.presence import Presence
from clients.terminal.session import Timing
from clients.terminal.state import Status
from clients.terminal.ui import ChatApp, ChatInput
from infra.services import free_port
from tests.e2e.clients.helpers import (
    blocking,
    connected,
    direct,
    entry_of,
    lines_with,
    rest,
    terminal,
    type_line,
    unread_counts,
    until,
)
from tests.e2e.support import Stack, new_user


def send_from(stack: Stack, sender: int, to: int, *contents: str) -> list[str]:
    """Send each content from `sender` (waiting for each ack); the message ids."""
    with stack.chat(sender) as chat:
        acks = [chat.send(to, content) for content in contents]
    assert all(ack["type"] == "ack" for ack in acks), acks
    return [ack["message_id"] for ack in acks]


def test_the_list_counts_unread_and_opening_a_conversation_shows_and_marks_it(
    stack: Stack,
) -> None:
    a, b, c = new_user(), new_user(), new_user()
    contents = [f"unread {i} {uuid.uuid4().hex[:6]}" for i in range(5)]
    send_from(stack, a, b, *contents)
    send_from(stack, c, b, "from c", "from c again")

    async def scenario() -> None:
        app = terminal(stack, b, Timing(list_page_size=1))  # the list in pages of one
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            await until(pilot, lambda: entry_of(app, str(a)) is not None, "the list")
            assert entry_of(app, f"{a} (5)") and entry_of(app, f"{c} (2)")
            assert app.sidebar()[0].startswith(f"  {c} (2)")  # the newest activity first
            assert "from c again" in (entry_of(app, str(c)) or "")
            assert lines_with(app, "7 unread messages in the list")
            assert not lines_with(app, "unread 0")  # counted, not shown

            await type_line(pilot, f"/to {a}", keystrokes=False)
            await until(pilot, lambda: bool(lines_with(app, contents[-1])), "the history")
            shown = [line for line in app.transcript() if " → you: unread " in line]
            assert [line.split(": ", 1)[1] for line in shown] == contents
            assert all(f"] {a} → you: " in line for line in shown)  # sender and local time
            assert [line.split(" ")[0] for line in shown] == ["#1", "#2", "#3", "#4", "#5"]
            await until(
                pilot,
                lambda: unread_counts(stack, b).get(direct(a, b)) == 0,
                "the open conversation to be marked read",
            )
            # The other conversation stays unread: a count, in the list and on the server.
            assert unread_counts(stack, b)[direct(b, c)] == 2
            assert entry_of(app, f"{c} (2)") and entry_of(app, str(a))
            assert "2 unread elsewhere" in app.status_text

    asyncio.run(scenario())


def test_typed_line_reaches_the_other_user_and_is_acknowledged(stack: Stack) -> None:
    a, b = new_user(), new_user()

    async def scenario() -> None:
        app = terminal(stack, a)
        with stack.chat(b) as chat_b:
            async with app.run_test(size=(120, 40)) as pilot:
                await connected(pilot, app)
                await type_line(pilot, f"/to {b}", keystrokes=False)
                await type_line(pilot, "hello from the terminal")

                got = (await blocking(chat_b.expect, "message"))["message"]
                assert (got["from"], got["to"], got["content"]) == (
                    a,
                    b,
                    "hello from the terminal",
                )
                await until(pilot, lambda: bool(lines_with(app, "✓")), "the ack")
                (line,) = lines_with(app, "hello from the terminal")
                assert line.endswith(f"you → {b}: hello from the terminal ✓")
                assert app.query_one(ChatInput).value == ""

                await type_line(pilot, "//shrug")  # a leading / is sent as "//"
                got = (await blocking(chat_b.expect, "message"))["message"]
                assert got["content"] == "/shrug"

                # b reads the conversation: a sees ✓✓ on both lines.
                chat_b.send_frame({"action": "read", "conversation_id": direct(a, b)})
                await until(pilot, lambda: len(lines_with(app, "✓✓")) == 2, "the read receipts")
                assert lines_with(app, "hello from the terminal ✓✓")

    asyncio.run(scenario())


def test_a_message_in_another_conversation_is_counted_then_opened_from_the_list(
    stack: Stack,
) -> None:
    a, b = new_user(), new_user()

    async def scenario() -> None:
        app = terminal(stack, b)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            await type_line(pilot, "half-typed")  # no conversation yet: stays in the input
            assert lines_with(app, "not sent: open a conversation first")
            (message_id,) = await blocking(send_from, stack, a, b, "ping from a")
            await until(pilot, lambda: entry_of(app, f"{a} (1)") is not None, "the badge")
            assert not lines_with(app, "ping from a")
            assert app.query_one(ChatInput).value == "half-typed"

            await pilot.press("tab", "enter")  # the list, its first entry
            await until(pilot, lambda: bool(lines_with(app, "ping from a")), "the message")
            assert lines_with(app, "ping from a")[0].endswith(f"{a} → you: ping from a")
            assert app.query_one(ChatInput).has_focus
            assert app.query_one(ChatInput).value == "half-typed"
            await until(pilot, lambda: entry_of(app, str(a)) is not None, "the badge gone")
            await until(
                pilot,
                lambda: not stack.all_unread(b),
                "the message to be marked read",
            )
            assert len(lines_with(app, "ping from a")) == 1
            assert message_id in app.session.state.seen

    asyncio.run(scenario())


def test_reconnect_after_a_drop_catches_up_exactly_once(local_stack: Stack) -> None:
    stack = local_stack
    a, b = new_user(), new_user()

    async def scenario() -> None:
        # A first retry 0.75-1.5 s after the drop: time enough to send while it is away.
        app = terminal(stack, b, Timing(backoff_base=1.5, backoff_cap=3.0), peer=a)
        before = await blocking(stack.connection_ids)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            (connection_id,) = await blocking(stack.connection_ids) - before
            await blocking(send_from, stack, a, b, "before the drop")
            await until(pilot, lambda: bool(lines_with(app, "before the drop")), "live message")

            # Given the connection vanishes (no close frame, no $disconnect)...
            await blocking(stack.drop, connection_id)
            await until(pilot, lambda: app.status is Status.RECONNECTING, "reconnecting…")
            # ...when a message is sent while the client is away...
            await blocking(send_from, stack, a, b, "while you were away")
            # ...then it shows up once after the reconnect, and nothing shows twice.
            await connected(pilot, app, connections=2)
            await until(pilot, lambda: bool(lines_with(app, "while you were away")), "catch-up")
            await blocking(send_from, stack, a, b, "after the reconnect")
            await until(pilot, lambda: bool(lines_with(app, "after the reconnect")), "live again")
            lines = app.transcript()
            for text in ("before the drop", "while you were away", "after the reconnect"):
                assert len(lines_with(app, text)) == 1, lines
            # Caught up through history, which is shown before "connected again".
            away = next(i for i, line in enumerate(lines) if "while you were away" in line)
            assert away < lines.index("-- connected again")
            assert lines_with(app, "reconnecting…") and lines_with(app, "connected again")
            await until(pilot, lambda: not stack.all_unread(b), "all marked read")

    asyncio.run(scenario())


def test_server_closing_the_connection_is_followed_by_a_reconnect(local_stack: Stack) -> None:
    """What API Gateway does at the 2-hour limit: close the connection from its side."""
    stack = local_stack
    management_url = stack.extra["info"]["management_url"]
    user = new_user()

    async def scenario() -> None:
        app = terminal(stack, user)
        before = await blocking(stack.connection_ids)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            (connection_id,) = await blocking(stack.connection_ids) - before
            response = await blocking(
                httpx.delete, f"{management_url}/@connections/{connection_id}"
            )
            assert response.status_code == 204
            await connected(pilot, app, connections=2)
            assert lines_with(app, "reconnecting…")

    asyncio.run(scenario())


def test_refused_send_shows_the_error_and_keeps_the_text(stack: Stack) -> None:
    a, b = new_user(), new_user()
    too_long = "x" * 8001

    async def scenario() -> None:
        app = terminal(stack, a, peer=b)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            box = app.query_one(ChatInput)
            box.value = too_long
            await pilot.press("enter")
            await until(pilot, lambda: bool(lines_with(app, "refused (too_large)")), "refusal")
            assert box.value == too_long
            assert lines_with(app, "✗ not sent")
            # The connection stays usable: the next line goes through.
            box.value = ""
            await type_line(pilot, "short")
            await until(pilot, lambda: bool(lines_with(app, "short ✓")), "the next ack")
            assert await blocking(stack.all_unread, b) != []

    asyncio.run(scenario())


def test_keep_alive_pings_are_answered(stack: Stack) -> None:
    user = new_user()
    timing = Timing(ping_interval=0.2, pong_timeout=1.0, backoff_base=0.4, backoff_cap=2.0)

    async def scenario() -> None:
        app = terminal(stack, user, timing)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            await pilot.pause(1.2)  # several ping/pong rounds
            assert app.status is Status.CONNECTED
            assert app.session.connections == 1
            assert not lines_with(app, "reconnecting")

    asyncio.run(scenario())


def test_a_message_the_server_could_not_push_shows_up_after_the_next_pong(
    local_stack: Stack,
) -> None:
    """The server keeps a message unread when the recipient's presence is gone; the
    client, still connected, finds it through the conversation list after its next ping."""
    stack = local_stack
    presence = Presence(redis.Redis.from_url(stack.extra["redis_url"], decode_responses=True))
    a, b = new_user(), new_user()
    timing = Timing(ping_interval=0.3, pong_timeout=2.0, backoff_base=0.4, backoff_cap=2.0)

    async def scenario() -> None:
        app = terminal(stack, b, timing, peer=a)
        before = await blocking(stack.connection_ids)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            (connection_id,) = await blocking(stack.connection_ids) - before
            await blocking(presence.remove, connection_id, b)  # as if Redis lost it
            await blocking(send_from, stack, a, b, "never pushed")
            await until(pilot, lambda: bool(lines_with(app, "never pushed")), "the sweep")
            await pilot.pause(0.8)  # more sweeps: still shown once
            assert len(lines_with(app, "never pushed")) == 1
            assert app.session.connections == 1
            assert await blocking(stack.all_unread, b) == []

    asyncio.run(scenario())


def test_dead_server_shows_reconnecting_and_never_crashes() -> None:
    port = free_port()  # nothing listens there
    app = ChatApp(
        f"ws://127.0.0.1:{port}/api",
        f"http://127.0.0.1:{port}/api",
        lambda: "e30.e30.sig",
        user=7,
        peer=8,
        timing=Timing(backoff_base=0.05, backoff_cap=0.2, open_timeout=1.0),
    )

    async def scenario() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.session.backoff.attempt >= 4, "several retries")
            assert app.status is Status.RECONNECTING
            assert len(lines_with(app, "reconnecting…")) == 1  # said once, not per retry
            await type_line(pilot, "anyone there?")
            assert lines_with(app, "not sent")
            assert app.query_one(ChatInput).value == "anyone there?"
            app.query_one(ChatInput).value = ""
            await type_line(pilot, "/quit", keystrokes=False)
            await until(pilot, lambda: not app.is_running, "the app to exit", timeout=5)
        assert app.return_code in (0, None)

    asyncio.run(scenario())


def test_unread_then_quit_marks_read_what_was_shown(stack: Stack) -> None:
    """A message pushed right before /quit is marked read on the way out."""
    a, b = new_user(), new_user()

    async def scenario() -> None:
        app = terminal(stack, b, peer=a)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            await blocking(send_from, stack, a, b, "last words")
            await until(pilot, lambda: bool(lines_with(app, "last words")), "the message")
            await type_line(pilot, "/quit", keystrokes=False)
            await until(pilot, lambda: not app.is_running, "the app to exit", timeout=5)
        assert await blocking(stack.all_unread, b) == []

    asyncio.run(scenario())


def group_send(stack: Stack, sender: int, group_id: int, content: str) -> dict[str, Any]:
    return rest(
        stack,
        sender,
        "/api/v1/messages/send",
        group_id=group_id,
        content=content,
        ack_id=uuid.uuid4().hex,
    )


def test_a_group_is_created_chatted_in_and_read_by_its_members(stack: Stack) -> None:
    a, b, c, d = new_user(), new_user(), new_user(), new_user()

    async def scenario() -> None:
        app = terminal(stack, a)
        with stack.chat(b) as chat_b:
            async with app.run_test(size=(120, 40)) as pilot:
                await connected(pilot, app)
                await type_line(pilot, f"/new book club {b} {c}", keystrokes=False)
                created = await blocking(chat_b.expect, "group")
                assert (created["event"], created["name"], created["by"]) == (
                    "created",
                    "book club",
                    a,
                )
                group_id = created["group_id"]
                await until(pilot, lambda: bool(lines_with(app, 'group "book club"')), "open")
                assert lines_with(app, f'you created group "book club" with {b}, {c}')
                assert entry_of(app, "# book club") is not None

                await type_line(pilot, "hello club", keystrokes=False)
                got = await blocking(chat_b.expect, "message")
                assert (got["message"]["group_id"], got["conversation_id"], got["seq"]) == (
                    group_id,
                    f"g:{group_id}",
                    1,
                )
                await until(pilot, lambda: bool(lines_with(app, "hello club ✓")), "the ack")
                (line,) = lines_with(app, "hello club")
                assert line.startswith("#1 ") and "you → book club: hello club ✓" in line

                await blocking(group_send, stack, b, group_id, "hi from b")
                await until(pilot, lambda: bool(lines_with(app, "hi from b")), "b's message")
                assert lines_with(app, "hi from b")[0].endswith(f"{b} → book club: hi from b")

                # b reads the group: "read by 1" on a's message; c reads too: 2.
                chat_b.send_frame({"action": "read", "conversation_id": f"g:{group_id}"})
                await until(pilot, lambda: bool(lines_with(app, "hello club ✓ read by 1")), "b")
                await blocking(
                    rest,
                    stack,
                    c,
                    "/api/v1/conversations/mark-read",
                    conversation_id=f"g:{group_id}",
                )
                await until(pilot, lambda: bool(lines_with(app, "hello club ✓ read by 2")), "c")

                await type_line(pilot, f"/add {d}", keystrokes=False)
                await until(pilot, lambda: bool(lines_with(app, f"you added {d}")), "added")
                await type_line(pilot, f"/remove {c}", keystrokes=False)
                await until(pilot, lambda: bool(lines_with(app, f"you removed {c}")), "removed")
                await type_line(pilot, "/members", keystrokes=False)
                await until(pilot, lambda: bool(lines_with(app, "3 members of book club")), "who")
                assert lines_with(app, f"{a} (owner), {b}, {d}")
                assert (await blocking(chat_b.expect, "group"))["event"] == "members_added"

    asyncio.run(scenario())


def test_removed_from_a_group_a_send_is_refused_and_the_connection_stays(stack: Stack) -> None:
    a, owner = new_user(), new_user()
    group = rest(stack, owner, "/api/v1/groups/create", name="short-lived", members=[a])["group"]
    group_id = group["group_id"]

    async def scenario() -> None:
        app = terminal(stack, a, group=group_id)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            await until(pilot, lambda: bool(lines_with(app, 'group "short-lived"')), "open")
            await blocking(
                rest, stack, owner, "/api/v1/groups/remove-members", group_id=group_id, user_ids=[a]
            )
            await until(
                pilot,
                lambda: bool(lines_with(app, f'{owner} removed you from group "short-lived"')),
                "the group frame",
            )
            assert entry_of(app, "# short-lived") is not None  # still open, so still listed
            await type_line(pilot, "anyone?", keystrokes=False)
            await until(pilot, lambda: bool(lines_with(app, "refused (forbidden)")), "refusal")
            assert lines_with(app, "you are not a member of this group")
            assert app.query_one(ChatInput).value == "anyone?"
            # A refusal, not a lost sign-in: the same connection sends on.
            app.query_one(ChatInput).value = ""
            await type_line(pilot, f"/to {owner}", keystrokes=False)
            await type_line(pilot, "let me back in", keystrokes=False)
            await until(pilot, lambda: bool(lines_with(app, "let me back in ✓")), "the ack")
            assert app.session.connections == 1
            assert entry_of(app, "# short-lived") is None  # no longer a member, not open

    asyncio.run(scenario())


def test_recall_of_your_last_message_and_of_theirs(stack: Stack) -> None:
    a, b = new_user(), new_user()

    async def scenario() -> None:
        app = terminal(stack, a, peer=b)
        with stack.chat(b) as chat_b:
            async with app.run_test(size=(120, 40)) as pilot:
                await connected(pilot, app)
                await type_line(pilot, "keep this", keystrokes=False)
                await type_line(pilot, "oops, wrong chat", keystrokes=False)
                await until(pilot, lambda: bool(lines_with(app, "wrong chat ✓")), "the acks")
                await type_line(pilot, "/recall", keystrokes=False)
                recalled = await blocking(chat_b.expect, "recalled")
                assert (recalled["seq"], recalled["by"]) == (2, a)
                await until(pilot, lambda: bool(lines_with(app, "message recalled")), "recall")
                assert lines_with(app, "#2 ")[0].endswith(f"you → {b}: message recalled")
                assert not lines_with(app, "wrong chat") and lines_with(app, "keep this ✓")

                (theirs,) = await blocking(send_from, stack, b, a, "their words")
                await until(pilot, lambda: bool(lines_with(app, "their words")), "theirs")
                await type_line(pilot, "/recall 3", keystrokes=False)
                assert lines_with(app, "#3 is not yours to recall")
                await blocking(rest, stack, b, "/api/v1/messages/recall", message_id=theirs)
                await until(pilot, lambda: not lines_with(app, "their words"), "their recall")
                assert lines_with(app, "#3 ")[0].endswith(f"{b} → you: message recalled")
                assert entry_of(app, str(b)) and "message recalled" in (entry_of(app, str(b)) or "")

    asyncio.run(scenario())


def test_your_other_device_s_messages_show_as_you(stack: Stack) -> None:
    a, b = new_user(), new_user()

    async def scenario() -> None:
        app = terminal(stack, a, peer=b)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            await blocking(send_from, stack, a, b, "typed on my phone")  # a's other device
            await until(pilot, lambda: bool(lines_with(app, "typed on my phone")), "the copy")
            (line,) = lines_with(app, "typed on my phone")
            assert line.endswith(f"you → {b}: typed on my phone ✓")
            assert entry_of(app, str(b)) is not None and "(" not in app.sidebar()[0]

            # A note to self comes back pushed as well as acknowledged: shown once.
            await type_line(pilot, f"/to {a}", keystrokes=False)
            await type_line(pilot, "note to self", keystrokes=False)
            await until(pilot, lambda: bool(lines_with(app, "note to self ✓")), "the ack")
            assert len(lines_with(app, "note to self")) == 1
            assert lines_with(app, "you → you: note to self")

    asyncio.run(scenario())


def test_a_gap_in_seq_is_filled_from_history_in_order(local_stack: Stack) -> None:
    """b misses a push (presence lost for a moment); the next push shows the gap, and
    the missing message is fetched and shown before it, without waiting for a ping."""
    stack = local_stack
    presence = Presence(redis.Redis.from_url(stack.extra["redis_url"], decode_responses=True))
    a, b = new_user(), new_user()

    async def scenario() -> None:
        app = terminal(stack, b, peer=a)  # pings every 300 s: no sweep in this test
        before = await blocking(stack.connection_ids)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            (connection_id,) = await blocking(stack.connection_ids) - before
            await blocking(presence.remove, connection_id, b)
            await blocking(send_from, stack, a, b, "first, never pushed")
            await blocking(presence.add, connection_id, b)
            await blocking(send_from, stack, a, b, "second, pushed")
            await until(pilot, lambda: bool(lines_with(app, "first, never pushed")), "the gap")
            lines = [line for line in app.transcript() if line.startswith("#")]
            assert [line.split(": ", 1)[1] for line in lines] == [
                "first, never pushed",
                "second, pushed",
            ]
            await until(pilot, lambda: not stack.all_unread(b), "both marked read")

    asyncio.run(scenario())


def test_scrolling_back_fetches_older_history(stack: Stack) -> None:
    a, b = new_user(), new_user()
    send_from(stack, a, b, *(f"line {i}" for i in range(1, 26)))
    rest(stack, b, "/api/v1/conversations/mark-read", conversation_id=direct(a, b))

    async def scenario() -> None:
        app = terminal(stack, b, Timing(history_page_size=10), peer=a)
        async with app.run_test(size=(120, 12)) as pilot:
            await connected(pilot, app)
            await until(pilot, lambda: bool(lines_with(app, "line 25")), "the newest page")
            numbered = [line for line in app.transcript() if line.startswith("#")]
            assert [line.split(" ")[0] for line in numbered] == [f"#{i}" for i in range(16, 26)]
            assert lines_with(app, "older messages: /more or PageUp")

            for _ in range(30):  # PageUp up to the top, then older ones are fetched
                if lines_with(app, "line 6"):
                    break
                await pilot.press("pageup")
                await until(pilot, lambda: not app.session.state.older_wanted, "a page")
            numbered = [line for line in app.transcript() if line.startswith("#")]
            assert [line.split(" ")[0] for line in numbered] == [f"#{i}" for i in range(6, 26)]
            assert lines_with(app, "10 older messages above; /more for older")

            await type_line(pilot, "/more", keystrokes=False)
            await until(pilot, lambda: bool(lines_with(app, "5 older messages")), "the rest")
            numbered = [line for line in app.transcript() if line.startswith("#")]
            assert [line.split(" ")[0] for line in numbered] == [f"#{i}" for i in range(1, 26)]
            await type_line(pilot, "/more", keystrokes=False)
            await until(pilot, lambda: bool(lines_with(app, "no older messages")), "the end")

    asyncio.run(scenario())
