"""The terminal UI (Textual): a conversation list, the open conversation, one input line.

    ┌ status: who you are · the open conversation · connection · unread elsewhere ┐
    │ conversation list   │ the open conversation, in seq order                   │
    │ (unread badges)     │ #12 [14:03:07] 7 → you: hi                            │
    │                     │ #13 [14:03:09] you → 7: hello ✓✓                      │
    └ input line: a message for the open conversation, or a /command              ┘

Each conversation has its own transcript (hidden when another is open), kept in step
with the state: a message is drawn once, where its seq puts it, and redrawn in place
when it is recalled or read. Textual owns the screen, so a message arriving while the
user types never lands in the line being edited. All protocol work is the
ChatSession's; this module turns its events into lines and typed lines into commands.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from clients.terminal import commands as cmd
from clients.terminal.conversations import Conversation
from clients.terminal.messages import (
    Ack,
    ChatMessage,
    ConversationRef,
    Outgoing,
    local_time,
    printable,
)
from clients.terminal.rest import RestError
from clients.terminal.session import ChatSession, Offline, Timing, describe_failure
from clients.terminal.state import ChatState, Status

HELP = cmd.HELP
MAX_LINES = 2500  # per transcript; the state keeps at most 2000 messages
HOME = "home"
PREVIEW_CHARS = 26  # fits the list's width
BACKLOG_MAX = 20


class Line(Static):
    """One transcript line; `plain` is what it says, for people and tests alike."""

    def __init__(self, text: Text, seq: int | None = None) -> None:
        super().__init__(text)
        self.plain = text.plain
        self.seq = seq

    def replace(self, text: Text) -> None:
        self.plain = text.plain
        self.update(text)


class Transcript(VerticalScroll):
    """One conversation's lines: messages by seq (keyed by id), pending sends (keyed by
    ack_id) and notices, in the order they came, messages placed by their seq."""

    can_focus = False

    def __init__(self, conversation_id: str) -> None:
        super().__init__(classes="transcript")
        self.conversation_id = conversation_id
        self.lines: dict[str, Line] = {}
        self.pending: dict[str, Line] = {}
        self.header: Line | None = None  # what the conversation is (its name may change)
        self._order: list[tuple[int, str]] = []  # (seq, id) of message lines

    def put(self, message: ChatMessage, text: Text) -> None:
        line = self.lines.get(message.id)
        if line is not None:
            line.replace(text)
            return
        line = self.lines[message.id] = Line(text, message.seq)
        key = (message.seq, message.id)
        at = bisect.bisect(self._order, key)
        following = self.lines[self._order[at][1]] if at < len(self._order) else None
        self._order.insert(at, key)
        at_end = self.is_vertical_scroll_end
        if following is not None:
            self.mount(line, before=following)
        else:
            self._append(line, at_end)

    def drop(self, messages: list[ChatMessage]) -> None:
        for message in messages:
            line = self.lines.pop(message.id, None)
            if line is not None:
                self._order.remove((message.seq, message.id))
                line.remove()

    def add(self, text: Text, classes: str = "") -> Line:
        line = Line(text)
        if classes:
            line.add_class(classes)
        self._append(line, self.is_vertical_scroll_end)
        return line

    def _append(self, line: Line, scroll: bool) -> None:
        self.mount(line)
        surplus = len(self.children) - MAX_LINES
        if surplus > 0:
            for old in list(self.children)[:surplus]:
                if isinstance(old, Line):
                    self._forget(old)
                old.remove()
        if scroll:
            self.scroll_end(animate=False)

    def _forget(self, line: Line) -> None:
        for key, known in list(self.lines.items()):
            if known is line:
                del self.lines[key]
                self._order = [o for o in self._order if o[1] != key]
        for key, known in list(self.pending.items()):
            if known is line:
                del self.pending[key]

    def plain_lines(self) -> list[str]:
        return [child.plain for child in self.children if isinstance(child, Line)]


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
    #main { height: 1fr; }
    #sidebar { width: 34; height: 1fr; border: none; border-right: solid $panel; }
    #transcripts { width: 1fr; height: 1fr; }
    .transcript { height: 1fr; padding: 0 1; }
    .transcript > Line { height: auto; }
    .notice { color: $text-muted; }
    .error { color: $error; }
    """
    BINDINGS = [  # noqa: RUF012 - Textual's own declaration style
        Binding("ctrl+c", "quit", "quit", priority=True, show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
    ]

    def __init__(
        self,
        ws_url: str,
        rest_url: str,
        token: Callable[[], str],
        *,
        user: int | None = None,
        peer: int | None = None,
        group: int | None = None,
        timing: Timing | None = None,
    ) -> None:
        super().__init__()
        self.session = ChatSession(ws_url, rest_url, token, self, timing)
        self.session.user = user
        self.status = Status.CONNECTING
        self._status_detail = ""
        self._first: ConversationRef | int | None = (
            ConversationRef.group(group) if group is not None else peer
        )
        self._redraw_pending = False
        self.status_text = ""
        self._backlog: dict[str, list[str]] = {}  # notices of conversations not opened yet

    @property
    def state(self) -> ChatState:
        return self.session.state

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Horizontal(id="main"):
            yield OptionList(id="sidebar")
            with Container(id="transcripts"):
                yield Transcript(HOME)
        yield ChatInput(placeholder="a message, or /help", id="input")

    def on_mount(self) -> None:
        self.query_one(ChatInput).focus()
        self._notice(HELP)
        self._open_first()
        self._redraw()
        self.session.start()

    async def action_quit(self) -> None:
        await self.session.close()
        self.exit()

    async def on_unmount(self) -> None:
        await self.session.close()  # however the app ends; a second close does nothing

    def _open_first(self) -> None:
        """`--to` / `--group`: opened as soon as the user is known (from the token)."""
        first, me = self._first, self.session.user
        if first is None or me is None:
            return
        self._first = None
        if isinstance(first, ConversationRef):
            self.session.open(first)
        else:
            self.session.open(ConversationRef.direct(me, first))

    # --- what the user types ------------------------------------------------------------

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value
        if not text.strip():
            return
        box = self.query_one(ChatInput)
        if text.startswith("/") and not text.startswith("//"):
            try:
                command = cmd.parse_command(text)
            except cmd.CommandError as exc:
                self._error(str(exc))
                return
            box.remember(text)
            box.value = ""
            await self._command(command)
            return
        content = text[1:] if text.startswith("//") else text  # "//x" sends "/x"
        try:
            outgoing = self.session.send(content)
        except Offline:
            self._error(f"not sent: {self.status} (your text is still in the input)")
            return
        except ValueError as exc:
            self._error(f"not sent: {exc}")
            return
        box.remember(text)
        box.value = ""
        transcript = self._transcript(outgoing.conversation_id)
        if transcript is not None:
            line = transcript.add(self._pending_text(outgoing, "…"))
            transcript.pending[outgoing.ack_id] = line
            transcript.scroll_end(animate=False)

    async def _command(self, command: cmd.Command) -> None:
        me = self.session.user
        c = self.state.open_conversation
        if isinstance(command, cmd.Quit):
            await self.action_quit()
        elif isinstance(command, cmd.Help):
            self._notice(HELP)
        elif isinstance(command, cmd.OpenDirect | cmd.OpenGroup):
            if me is None:
                self._error("still signing in; try again in a moment")
                return
            if isinstance(command, cmd.OpenDirect):
                self.session.open(ConversationRef.direct(me, command.user))
            else:
                self.session.open(ConversationRef.group(command.group_id))
        elif isinstance(command, cmd.NewGroup):
            self._rest_action(
                self.session.create_group(command.name, list(command.members)), "/new"
            )
        elif isinstance(command, cmd.More):
            if c is None:
                self._error("open a conversation first")
                return
            self._more()
        elif isinstance(command, cmd.Recall):
            self._recall(c, command.seq)
        else:
            self._group_command(c, command)

    def _group_command(self, c: Conversation | None, command: cmd.Command) -> None:
        if c is None or c.ref.group_id is None:
            self._error("open a group first: /group <id>, or create one: /new <name> <ids…>")
            return
        group = c.ref.group_id
        if isinstance(command, cmd.AddMembers):
            self._rest_action(self.session.add_members(group, list(command.user_ids)), "/add")
        elif isinstance(command, cmd.RemoveMembers):
            self._rest_action(self.session.remove_members(group, list(command.user_ids)), "/remove")
        elif isinstance(command, cmd.Leave):
            self._rest_action(self.session.leave(group), "/leave")
        elif isinstance(command, cmd.Members):
            self._rest_action(self._show_members(c, group), "/members")

    async def _show_members(self, c: Conversation, group: int) -> None:
        members = await self.session.members(group)
        names = [f"{m.user_id}{' (owner)' if m.owner else ''}" for m in members]
        self._notice(f"{len(members)} members of {c.title}: {', '.join(names)}")

    def _recall(self, c: Conversation | None, seq: int | None) -> None:
        if c is None:
            self._error("open a conversation first")
            return
        message = c.last_own() if seq is None else c.messages.get(seq)
        if message is None:
            self._error("nothing of yours to recall here" if seq is None else f"no #{seq} here")
            return
        if message.sender != self.session.user:
            self._error(f"#{message.seq} is not yours to recall")
            return
        if message.recalled:
            self._error(f"#{message.seq} is already recalled")
            return
        self._rest_action(self.session.recall(message), "/recall")

    def _more(self) -> None:
        try:
            self.session.more()
        except Offline:
            self._error(f"cannot load older messages: {self.status}")

    def _rest_action(self, job: Awaitable[Any], name: str) -> None:
        async def run() -> None:
            try:
                await job
            except Offline:
                self._error(f"{name}: {self.status}")
            except RestError as exc:
                self._error(f"{name} refused: {exc.text}")
            except (httpx.HTTPError, ValueError) as exc:
                self._error(f"{name} failed: {describe_failure(exc)}")

        self.run_worker(run(), group="rest")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id
        if option_id is not None and option_id in self.state.conversations:
            self.session.open(self.state.conversations[option_id].ref)
            self.query_one(ChatInput).focus()

    def action_page(self, step: int) -> None:
        transcript = self._visible()
        if step > 0:
            transcript.scroll_page_down(animate=False)
        elif transcript.scroll_y > 0:
            transcript.scroll_page_up(animate=False)
        elif transcript.conversation_id != HOME:
            self._more()  # at the top already: fetch older ones

    # --- ChatEvents: what the session reports -------------------------------------------

    def status_changed(self, status: Status, detail: str) -> None:
        if status is Status.RECONNECTING and self.status is not Status.RECONNECTING:
            self._notice(f"reconnecting… ({detail})")
        elif status is Status.CONNECTED and self.session.connections > 1:
            self._notice("connected again")
        self.status, self._status_detail = status, detail
        if self._first is not None:
            self._open_first()
        self._redraw()

    def conversations_changed(self) -> None:
        self._redraw()

    def conversation_opened(self, conversation: Conversation) -> None:
        with contextlib.suppress(NoMatches):
            transcript = self._transcript(conversation.id)
            if transcript is None:
                transcript = Transcript(conversation.id)
                self.query_one("#transcripts", Container).mount(transcript)
                transcript.header = transcript.add(self._header(conversation), "notice")
                for text in self._backlog.pop(conversation.id, []):
                    self._add(transcript, Text(f"-- {printable(text)}"), "notice")
                for message in conversation.ordered():
                    transcript.put(message, self._message_text(conversation, message))
            for other in self.query(Transcript):
                other.display = other is transcript
            transcript.scroll_end(animate=False)
        self._redraw()

    def messages_changed(self, conversation: Conversation, messages: list[ChatMessage]) -> None:
        transcript = self._transcript(conversation.id)
        if transcript is None:
            return
        for message in messages:
            transcript.put(message, self._message_text(conversation, message))

    def messages_dropped(self, conversation: Conversation, messages: list[ChatMessage]) -> None:
        transcript = self._transcript(conversation.id)
        if transcript is not None:
            transcript.drop(messages)

    def send_acknowledged(self, outgoing: Outgoing, ack: Ack) -> None:
        transcript = self._transcript(outgoing.conversation_id)
        line = transcript.pending.pop(outgoing.ack_id, None) if transcript else None
        if line is None:
            return
        if ack.message_id in (transcript.lines if transcript else {}):
            line.remove()  # drawn in its place by seq
        else:  # no seq to place it by: say it is stored where it is
            mark = "✓ (already stored)" if ack.duplicate else "✓"
            line.replace(self._pending_text(outgoing, mark, ack.created_at))

    def send_refused(self, outgoing: Outgoing, code: str, text: str) -> None:
        transcript = self._transcript(outgoing.conversation_id)
        line = transcript.pending.pop(outgoing.ack_id, None) if transcript else None
        if line is not None:
            line.replace(self._pending_text(outgoing, "✗ not sent"))
            line.add_class("error")
        box = self.query_one(ChatInput)
        box.remember(outgoing.content)
        if not box.value:
            box.value = outgoing.content
            where = "your text is back in the input"
        else:
            where = "press ↑ to get your text back"
        self._error(f"refused ({code}): {text}; {where}")

    def notice(self, text: str, conversation_id: str | None = None) -> None:
        if conversation_id is None:
            self._notice(text)
            return
        transcript = self._transcript(conversation_id)
        if transcript is not None:
            self._add(transcript, Text(f"-- {printable(text)}"), "notice")
        else:  # shown when the conversation is first opened
            waiting = self._backlog.setdefault(conversation_id, [])
            waiting[:] = [*waiting, text][-BACKLOG_MAX:]

    # --- drawing ------------------------------------------------------------------------

    def transcript(self) -> list[str]:
        """Every line of the visible transcript as plain text."""
        return self._visible().plain_lines()

    def sidebar(self) -> list[str]:
        """The conversation list as plain text, one entry per item."""
        try:
            options = self.query_one("#sidebar", OptionList).options
        except NoMatches:
            return []
        return [o.prompt.plain if isinstance(o.prompt, Text) else str(o.prompt) for o in options]

    def _transcript(self, conversation_id: str) -> Transcript | None:
        try:
            for transcript in self.query(Transcript):
                if transcript.conversation_id == conversation_id:
                    return transcript
        except NoMatches:
            pass
        return None

    def _visible(self) -> Transcript:
        for transcript in self.query(Transcript):
            if transcript.display:
                return transcript
        return self.query(Transcript).first()

    def _header(self, c: Conversation) -> Text:
        if not c.is_group:
            return Text(f"-- conversation with {c.title}")
        return Text(f'-- group "{printable(c.title)}" ({c.id}) · /members, /add, /remove, /leave')

    def _who(self, c: Conversation, message: ChatMessage) -> str:
        me = self.session.user
        if c.is_group:
            where = printable(c.title)
            return f"you → {where}" if message.sender == me else f"{message.sender} → {where}"
        if message.sender == me:
            return f"you → {'you' if c.peer == me else c.peer}"
        return f"{message.sender} → you"

    def _message_text(self, c: Conversation, message: ChatMessage) -> Text:
        line = Text(f"#{message.seq} [{local_time(message.created_at)}] ")
        line.append(self._who(c, message), style="bold")
        line.append(": ")
        if message.recalled:
            line.append("message recalled", style="italic")
            return line
        line.append(printable(message.content))
        if message.sender == self.session.user:
            receipt = c.receipt(message)
            if c.is_group:
                line.append(f" ✓ read by {receipt}" if receipt else " ✓")
            else:
                line.append(" ✓✓" if receipt else " ✓")
        return line

    def _pending_text(self, outgoing: Outgoing, mark: str, at: datetime | None = None) -> Text:
        c = self.state.conversations.get(outgoing.conversation_id)
        if c is not None and c.is_group:
            to = printable(c.title)
        else:
            to = "you" if outgoing.to == self.session.user else str(outgoing.to)
        line = Text(f"[{local_time(at or outgoing.typed_at)}] ")
        line.append(f"you → {to}", style="bold")
        line.append(f": {printable(outgoing.content)} {mark}")
        return line

    def _notice(self, text: str) -> None:
        with contextlib.suppress(NoMatches):
            self._add(self._visible(), Text(f"-- {printable(text)}"), "notice")

    def _error(self, text: str) -> None:
        with contextlib.suppress(NoMatches):
            self._add(self._visible(), Text(f"!! {printable(text)}"), "error")

    def _add(self, transcript: Transcript, text: Text, classes: str) -> None:
        transcript.add(text, classes)

    def _redraw(self) -> None:
        """Redraw the list and the status line once, after what is being handled now."""
        if not self._redraw_pending:
            self._redraw_pending = True
            self.call_later(self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw_pending = False
        with contextlib.suppress(NoMatches):
            self._render_sidebar()
            self._render_status()
            c = self.state.open_conversation
            header = self._visible().header
            if c is not None and header is not None and header.plain != self._header(c).plain:
                header.replace(self._header(c))

    def _render_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar", OptionList)
        open_id = self.state.open_id
        highlighted = sidebar.highlighted_option
        keep = highlighted.id if highlighted is not None else open_id
        options = [Option(self._entry(c, c.id == open_id), id=c.id) for c in self.state.listed()]
        sidebar.set_options(options)
        ids = [option.id for option in options]
        if options:
            sidebar.highlighted = ids.index(keep) if keep in ids else 0

    def _entry(self, c: Conversation, is_open: bool) -> Text:
        entry = Text("▸ " if is_open else "  ")
        entry.append(("# " if c.is_group else "") + printable(c.title), style="bold")
        if c.unread and not is_open:
            entry.append(f" ({c.unread})", style="bold reverse")
        entry.append("\n  ")
        last = c.last
        if last is None:
            preview = "no messages yet"
        elif last.recalled:
            preview = "message recalled"
        else:
            content = printable(" ".join(last.content.split()))
            preview = content[:PREVIEW_CHARS] + ("…" if len(content) > PREVIEW_CHARS else "")
            if last.sender == self.session.user:
                preview = f"you: {preview}"
            elif c.is_group:
                preview = f"{last.sender}: {preview}"
        entry.append(preview, style="dim")
        return entry

    def _render_status(self) -> None:
        me = self.session.user
        who = f"user {me}" if me else "signing in"
        c = self.state.open_conversation
        if c is None:
            where = "no conversation: /to <user id>"
        elif c.is_group:
            where = f'group "{printable(c.title)}"' + ("" if c.member else " (not a member)")
        else:
            where = f"with {c.title}"
        detail = f" ({self._status_detail})" if self._status_detail else ""
        unread = self.state.unread_elsewhere()
        elsewhere = f" · {unread} unread elsewhere" if unread else ""
        self.status_text = f"{who} · {where} · {self.status}{detail}{elsewhere}"
        self.query_one("#status", Static).update(self.status_text)
