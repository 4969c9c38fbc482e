"""Helpers for driving the clients against the stack under test.

The terminal client runs in-process under Textual's headless pilot; each test is one
`asyncio.run`. Blocking helpers (the support `Chat`, REST calls) go through
`asyncio.to_thread`, so the client keeps running on the event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from textual.pilot import Pilot

from clients.terminal.session import Timing
from clients.terminal.state import Status
from clients.terminal.ui import ChatApp, ChatInput
from tests.e2e.support import Stack

T = TypeVar("T")

# Short backoff so reconnects happen within a test; the rest as shipped.
FAST = Timing(backoff_base=0.4, backoff_cap=2.0, open_timeout=5.0, request_timeout=10.0)


def terminal(
    stack: Stack,
    user: int,
    timing: Timing = FAST,
    peer: int | None = None,
    group: int | None = None,
) -> ChatApp:
    return ChatApp(
        stack.ws_url,
        stack.rest_url,
        lambda: stack.token(user),
        user=user,
        peer=peer,
        group=group,
        timing=timing,
    )


async def until(
    pilot: Pilot[Any], check: Callable[[], bool], what: str, timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            app = pilot.app
            lines = app.transcript() if isinstance(app, ChatApp) else []
            raise AssertionError(f"timed out waiting for {what}; transcript: {lines}")
        await pilot.pause(0.03)


async def connected(pilot: Pilot[Any], app: ChatApp, connections: int = 1) -> None:
    await until(
        pilot,
        lambda: app.status is Status.CONNECTED and app.session.connections >= connections,
        f"connection #{connections}",
    )


async def type_line(pilot: Pilot[Any], text: str, keystrokes: bool = True) -> None:
    """Type `text` key by key (or paste it in one go) and press Enter."""
    app = pilot.app
    assert isinstance(app, ChatApp)
    box = app.query_one(ChatInput)
    box.focus()
    if keystrokes:
        await pilot.press(*text)
    else:
        box.value = text
    await pilot.press("enter")


def lines_with(app: ChatApp, text: str) -> list[str]:
    return [line for line in app.transcript() if text in line]


def entry_of(app: ChatApp, title: str) -> str | None:
    """The conversation list entry whose first line starts with `title`."""
    for entry in app.sidebar():
        first = entry.split("\n")[0].removeprefix("▸ ").strip()
        if first == title or first.startswith(f"{title} ("):
            return entry
    return None


def rest(stack: Stack, user: int, path: str, **body: Any) -> dict[str, Any]:
    """A v1.1 REST call as `user`; it must succeed."""
    response = stack.post(path, body, stack.token(user))
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def unread_counts(stack: Stack, user: int) -> dict[str, int]:
    """conversation_id -> unread count, from the server's conversation list."""
    listed = rest(stack, user, "/api/v1/conversations", limit=100)["conversations"]
    return {c["conversation_id"]: c["unread_count"] for c in listed}


def direct(a: int, b: int) -> str:
    return f"d:{min(a, b)}:{max(a, b)}"


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)
