"""The terminal client (clients/terminal) against the real stack, under Textual's pilot."""

from __future__ import annotations

import asyncio
import uuid

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
    lines_with,
    terminal,
    type_line,
    until,
)
from tests.e2e.support import Stack, new_user


def send_from(stack: Stack, sender: int, to: int, *contents: str) -> list[str]:
    """Send each content from `sender` (waiting for each ack); the message ids."""
    with stack.chat(sender) as chat:
        acks = [chat.send(to, content) for content in contents]
    assert all(ack["type"] == "ack" for ack in acks), acks
    return [ack["message_id"] for ack in acks]


def test_unread_pages_shown_oldest_first_then_marked_read(stack: Stack) -> None:
    a, b = new_user(), new_user()
    contents = [f"unread {i} {uuid.uuid4().hex[:6]}" for i in range(5)]
    send_from(stack, a, b, *contents)
    assert len(stack.all_unread(b)) == 5

    async def scenario() -> None:
        app = terminal(stack, b, Timing(page_size=2))  # three pages
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            shown = [line for line in app.transcript() if " → you: unread " in line]
            assert [line.split(": ", 1)[1] for line in shown] == contents
            assert all(f"] {a} → you: " in line for line in shown)  # sender and local time
            assert lines_with(app, "5 unread messages above")
            assert await blocking(stack.all_unread, b) == []

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

    asyncio.run(scenario())


def test_message_from_another_user_appears_once_and_is_marked_read(stack: Stack) -> None:
    a, b = new_user(), new_user()

    async def scenario() -> None:
        app = terminal(stack, b)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            await type_line(pilot, "half-typed")  # no peer yet: stays in the input
            (message_id,) = await blocking(send_from, stack, a, b, "ping from a")
            await until(pilot, lambda: bool(lines_with(app, "ping from a")), "the message")
            assert lines_with(app, "ping from a")[0].endswith(f"{a} → you: ping from a")
            assert app.query_one(ChatInput).value == "half-typed"
            await until(
                pilot,
                lambda: not stack.all_unread(b),
                "the realtime message to be marked read",
            )
            assert len(lines_with(app, "ping from a")) == 1
            assert message_id in app.session.state.seen

    asyncio.run(scenario())


def test_reconnect_after_a_drop_catches_up_exactly_once(local_stack: Stack) -> None:
    stack = local_stack
    a, b = new_user(), new_user()

    async def scenario() -> None:
        # A first retry 0.75-1.5 s after the drop: time enough to send while it is away.
        app = terminal(stack, b, Timing(backoff_base=1.5, backoff_cap=3.0))
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
            # Caught up through unread, which is shown before "connected again".
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
    client, still connected, finds it in unread after its next ping."""
    stack = local_stack
    presence = Presence(redis.Redis.from_url(stack.extra["redis_url"], decode_responses=True))
    a, b = new_user(), new_user()
    timing = Timing(ping_interval=0.3, pong_timeout=2.0, backoff_base=0.4, backoff_cap=2.0)

    async def scenario() -> None:
        app = terminal(stack, b, timing)
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
        app = terminal(stack, b)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot, app)
            await blocking(send_from, stack, a, b, "last words")
            await until(pilot, lambda: bool(lines_with(app, "last words")), "the message")
            await type_line(pilot, "/quit", keystrokes=False)
            await until(pilot, lambda: not app.is_running, "the app to exit", timeout=5)
        assert await blocking(stack.all_unread, b) == []

    asyncio.run(scenario())
