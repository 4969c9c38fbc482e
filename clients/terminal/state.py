"""What a chat session knows and how server frames change it -- no I/O, no clock.

`ChatState` decides what the user sees (each message once, sends settled by their own
`ack_id`) and what must be marked read; it reports to the UI through `ChatEvents` and
tells the connection loop (session.py) what a frame changed through `Effect`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum, StrEnum
from typing import Any, ClassVar, Protocol

from clients.terminal.messages import (
    Ack,
    BadFrame,
    ChatMessage,
    Outbox,
    Outgoing,
    SeenIds,
    parse_frame,
)


class Status(StrEnum):
    CONNECTING = "connecting…"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting…"
    CLOSED = "closed"


class ChatEvents(Protocol):
    """What the UI is told; always called on the event loop's thread."""

    def status_changed(self, status: Status, detail: str) -> None: ...
    def message_shown(self, message: ChatMessage, unread: bool) -> None: ...
    def send_acknowledged(self, outgoing: Outgoing, ack: Ack) -> None: ...
    def send_refused(self, outgoing: Outgoing, code: str, text: str) -> None: ...
    def notice(self, text: str) -> None: ...


class Effect(Enum):
    """What a handled frame means for the connection loop."""

    NONE = "none"
    SETTLED = "settled"  # the send in flight got its ack or error: send the next
    TO_MARK = "to_mark"  # a message was shown: mark it read
    PONG = "pong"
    RECONNECT = "reconnect"  # the server no longer knows who this connection is


class ChatState:
    def __init__(self, events: ChatEvents, seen: SeenIds | None = None) -> None:
        self.events = events
        self.seen = seen or SeenIds()
        self.outbox = Outbox()
        self.to_mark: list[str] = []

    def show(self, message: ChatMessage, unread: bool) -> bool:
        """Show `message` unless it was shown before; True when it is new."""
        if not self.seen.add(message.id):
            return False
        self.events.message_shown(message, unread)
        return True

    def show_unread(self, page: Iterable[ChatMessage]) -> int:
        """One unread page, oldest first: show what is new, mark read all of it (what
        was already shown was shown by a push), return how many were new."""
        shown = 0
        for message in page:
            shown += self.show(message, unread=True)
            self.to_mark.append(message.id)
        return shown

    def marked(self, ids: list[str]) -> None:
        """`ids`, taken from the front of `to_mark`, are marked read now."""
        del self.to_mark[: len(ids)]

    def handle_frame(self, raw: str | bytes) -> Effect:
        try:
            frame = parse_frame(raw)
            handler = self._handlers.get(frame["type"])
            return Effect.NONE if handler is None else handler(self, frame)
        except BadFrame as exc:
            self.events.notice(f"ignored a frame from the server: {exc}")
            return Effect.NONE

    def _on_message(self, frame: dict[str, Any]) -> Effect:
        message = ChatMessage.from_wire(frame.get("message"))
        self.show(message, unread=False)
        self.to_mark.append(message.id)
        return Effect.TO_MARK

    def _on_ack(self, frame: dict[str, Any]) -> Effect:
        head = self.outbox.settle(frame.get("ack_id"))
        if head is None:
            return Effect.NONE  # the twin of an ack already seen (a resend): ignore
        self.events.send_acknowledged(head, Ack.from_wire(frame))
        return Effect.SETTLED

    def _on_error(self, frame: dict[str, Any]) -> Effect:
        code, text = str(frame.get("code", "error")), str(frame.get("error", ""))
        head = self.outbox.settle(frame.get("ack_id"))
        if head is None:
            self.events.notice(f"server error ({code}): {text}")
            return Effect.NONE
        self.events.send_refused(head, code, text)
        # On a WebSocket, `forbidden` means the connection lost its sign-in (its presence
        # entry is gone): only a new connection, with the token, fixes that.
        return Effect.RECONNECT if code == "forbidden" else Effect.SETTLED

    def _on_pong(self, _frame: dict[str, Any]) -> Effect:
        return Effect.PONG

    _handlers: ClassVar[dict[str, Callable[[ChatState, dict[str, Any]], Effect]]] = {
        "message": _on_message,
        "ack": _on_ack,
        "error": _on_error,
        "pong": _on_pong,
    }
