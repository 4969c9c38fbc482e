"""The terminal UI (Textual): a transcript, a status line and one input line.

Textual owns the screen, so a message arriving while the user types is drawn in the
transcript and never into the line being edited. All protocol work is the
ChatSession's; this module only turns its events into lines and the user's lines
into commands or sends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Input, Static

from clients.terminal.messages import (
    Ack,
    ChatMessage,
    Outgoing,
    local_time,
    parse_user_id,
    printable,
)
from clients.terminal.session import ChatSession, Offline, Timing
from clients.terminal.state import Status

HELP = "/to <user id> chooses who to talk to, /quit leaves; other lines are sent (//x sends /x)"
MAX_LINES = 2000


class Line(Static):
    """One transcript line; `plain` is what it says, for people and tests alike."""

    def __init__(self, text: Text) -> None:
        super().__init__(text)
        self.plain = text.plain

    def replace(self, text: Text) -> None:
        self.plain = text.plain
        self.update(text)


class ChatInput(Input):
    """The input line, with ↑/↓ through what was typed before (and refused lines)."""

    BINDINGS = [  # noqa: RUF012 - Textual's own declaration style
        Binding("up", "history(-1)", show=False),
        Binding("down", "history(1)", show=False),
    ]

    def __init__(self, placeholder: str, id: str) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.history: list[str] = []
        self._position = 0

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._position = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._position = max(0, min(len(self.history), self._position + step))
        self.value = self.history[self._position] if self._position < len(self.history) else ""
        self.cursor_position = len(self.value)


class ChatApp(App[None]):
    TITLE = "serverless-im"
    CSS = """
    #status { height: 1; padding: 0 1; background: $panel; }
    #transcript { height: 1fr; padding: 0 1; }
    #transcript > Line { height: auto; }
    .notice { color: $text-muted; }
    .error { color: $error; }
    """
    BINDINGS = [  # noqa: RUF012 - Textual's own declaration style
        Binding("ctrl+c", "quit", "quit", priority=True, show=False),
    ]

    def __init__(
        self,
        ws_url: str,
        rest_url: str,
        token: Callable[[], str],
        *,
        user: int | None = None,
        peer: int | None = None,
        timing: Timing | None = None,
    ) -> None:
        super().__init__()
        self.session = ChatSession(ws_url, rest_url, token, self, timing)
        self.session.user = user
        self.peer = peer
        self.status = Status.CONNECTING
        self._status_detail = ""
        self._pending: dict[str, Line] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield VerticalScroll(id="transcript")
        yield ChatInput(placeholder="/to <user id>, then type; /quit leaves", id="input")

    def on_mount(self) -> None:
        self.query_one(ChatInput).focus()
        self._notice(HELP)
        self._render_status()
        self.session.start()

    async def action_quit(self) -> None:
        await self.session.close()
        self.exit()

    async def on_unmount(self) -> None:
        await self.session.close()  # however the app ends; a second close does nothing

    # --- what the user types ----------------------------------------------------------

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value
        if not text.strip():
            return
        box = self.query_one(ChatInput)
        if text.startswith("/") and not text.startswith("//"):
            await self._command(text, box)
            return
        if self.peer is None:
            self._error("choose who to talk to first: /to <user id>")
            return
        content = text[1:] if text.startswith("//") else text  # "//x" sends "/x"
        try:
            outgoing = self.session.send(self.peer, content)
        except Offline:
            self._error(f"not sent: {self.status} (your text is still in the input)")
            return
        box.remember(text)
        box.value = ""
        self._pending[outgoing.ack_id] = self._add(self._sent_text(outgoing, "…"))

    async def _command(self, text: str, box: ChatInput) -> None:
        name, _, argument = text.partition(" ")
        if name == "/quit":
            await self.action_quit()
            return
        if name == "/to":
            try:
                self.peer = parse_user_id(argument)
            except ValueError as exc:
                self._error(f"/to: {exc}")
                return
            self._notice(f"talking to {self.peer}")
            self._render_status()
        elif name == "/help":
            self._notice(HELP)
        else:
            self._error(f"unknown command {name}; {HELP}")
            return
        box.remember(text)
        box.value = ""

    # --- ChatEvents: what the session reports -----------------------------------------

    def status_changed(self, status: Status, detail: str) -> None:
        if status is Status.RECONNECTING and self.status is not Status.RECONNECTING:
            self._notice(f"reconnecting… ({detail})")
        elif status is Status.CONNECTED and self.session.connections > 1:
            self._notice("connected again")
        self.status, self._status_detail = status, detail
        self._render_status()

    def message_shown(self, message: ChatMessage, unread: bool) -> None:
        me = self.session.user
        to = "you" if message.to == me else str(message.to)
        line = Text(f"[{local_time(message.created_at)}] ")
        line.append(f"{message.sender} → {to}", style="bold")
        line.append(f": {printable(message.content)}")
        self._add(line)

    def send_acknowledged(self, outgoing: Outgoing, ack: Ack) -> None:
        line = self._pending.pop(outgoing.ack_id, None)
        mark = "✓ (already stored)" if ack.duplicate else "✓"
        if line is not None:
            line.replace(self._sent_text(outgoing, mark, ack.created_at))

    def send_refused(self, outgoing: Outgoing, code: str, text: str) -> None:
        line = self._pending.pop(outgoing.ack_id, None)
        if line is not None:
            line.replace(self._sent_text(outgoing, "✗ not sent"))
            line.add_class("error")
        box = self.query_one(ChatInput)
        box.remember(outgoing.content)
        if not box.value:
            box.value = outgoing.content
            where = "your text is back in the input"
        else:
            where = "press ↑ to get your text back"
        self._error(f"refused ({code}): {text}; {where}")

    def notice(self, text: str) -> None:
        self._notice(text)

    # --- drawing -------------------------------------------------------------------------

    def transcript(self) -> list[str]:
        """Every line of the transcript as plain text."""
        return [line.plain for line in self.query(Line)]

    def _sent_text(self, outgoing: Outgoing, mark: str, at: datetime | None = None) -> Text:
        line = Text(f"[{local_time(at or datetime.now().astimezone())}] ")
        line.append(f"you → {outgoing.to}", style="bold")
        line.append(f": {printable(outgoing.content)} {mark}")
        return line

    def _notice(self, text: str) -> None:
        self._add(Text(f"-- {printable(text)}")).add_class("notice")

    def _error(self, text: str) -> None:
        self._add(Text(f"!! {printable(text)}")).add_class("error")

    def _add(self, text: Text) -> Line:
        line = Line(text)
        try:
            transcript = self.query_one("#transcript", VerticalScroll)
        except NoMatches:  # the app is shutting down
            return line
        transcript.mount(line)
        surplus = len(transcript.children) - MAX_LINES
        if surplus > 0:
            for old in list(transcript.children)[:surplus]:
                old.remove()
        transcript.scroll_end(animate=False)
        return line

    def _render_status(self) -> None:
        who = f"user {self.session.user}" if self.session.user else "signing in"
        peer = f"to {self.peer}" if self.peer else "no peer: /to <user id>"
        detail = f" ({self._status_detail})" if self._status_detail else ""
        with contextlib.suppress(NoMatches):
            self.query_one("#status", Static).update(f"{who} · {peer} · {self.status}{detail}")
