"""ChatState: each message shown once, sends settled by their own ack_id, what to mark."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from clients.terminal.messages import Ack, ChatMessage, Outgoing
from clients.terminal.state import ChatState, Effect, Status


@dataclass
class Recorder:
    """ChatEvents that remember what the UI would have been told."""

    shown: list[tuple[str, bool]] = field(default_factory=list)
    acked: list[tuple[str, str, bool]] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)

    def status_changed(self, status: Status, detail: str) -> None:
        self.statuses.append(status)

    def message_shown(self, message: ChatMessage, unread: bool) -> None:
        self.shown.append((message.id, unread))

    def send_acknowledged(self, outgoing: Outgoing, ack: Ack) -> None:
        self.acked.append((outgoing.content, ack.message_id, ack.duplicate))

    def send_refused(self, outgoing: Outgoing, code: str, text: str) -> None:
        self.refused.append((outgoing.content, code, text))

    def notice(self, text: str) -> None:
        self.notices.append(text)


def wire(message_id: str, content: str = "hi") -> dict[str, Any]:
    return {
        "id": message_id,
        "from": 1,
        "to": 2,
        "content": content,
        "created_at": "2026-11-27T08:10:21.123Z",
    }


def message(message_id: str) -> ChatMessage:
    return ChatMessage.from_wire(wire(message_id))


def frame(**fields: Any) -> str:
    return json.dumps(fields)


def test_a_pushed_message_is_shown_once_and_queued_for_mark_read() -> None:
    events = Recorder()
    state = ChatState(events)

    first = state.handle_frame(frame(type="message", message=wire("m1")))
    again = state.handle_frame(frame(type="message", message=wire("m1")))

    assert (first, again) == (Effect.TO_MARK, Effect.TO_MARK)
    assert events.shown == [("m1", False)]
    assert state.to_mark == ["m1", "m1"]  # marking twice is harmless; showing twice is not


def test_unread_already_pushed_is_not_shown_again_but_is_marked_read() -> None:
    events = Recorder()
    state = ChatState(events)
    state.handle_frame(frame(type="message", message=wire("m2")))
    state.marked(list(state.to_mark))  # the push was marked read... or not yet:

    shown = state.show_unread([message("m1"), message("m2"), message("m3")])

    assert shown == 2
    assert events.shown == [("m2", False), ("m1", True), ("m3", True)]
    assert state.to_mark == ["m1", "m2", "m3"]


def test_marked_removes_only_what_was_flushed() -> None:
    state = ChatState(Recorder())
    state.show_unread([message("a"), message("b")])
    flushed = list(state.to_mark)
    state.handle_frame(frame(type="message", message=wire("c")))  # arrives mid-flush

    state.marked(flushed)

    assert state.to_mark == ["c"]


def test_ack_settles_the_send_in_flight_and_reports_it() -> None:
    events = Recorder()
    state = ChatState(events)
    outgoing = Outgoing(2, "hello")
    state.outbox.add(outgoing)

    stray = state.handle_frame(frame(type="ack", ack_id="someone-else", message_id="x"))
    effect = state.handle_frame(
        frame(type="ack", ack_id=outgoing.ack_id, message_id="m9", duplicate=True)
    )

    assert (stray, effect) == (Effect.NONE, Effect.SETTLED)
    assert events.acked == [("hello", "m9", True)]
    assert state.outbox.head() is None


def test_error_with_the_ack_id_refuses_that_send() -> None:
    events = Recorder()
    state = ChatState(events)
    outgoing = Outgoing(2, "x" * 8001)
    state.outbox.add(outgoing)

    effect = state.handle_frame(
        frame(type="error", code="too_large", error="too long", ack_id=outgoing.ack_id)
    )

    assert effect is Effect.SETTLED
    assert events.refused == [("x" * 8001, "too_large", "too long")]


def test_forbidden_send_means_sign_in_again() -> None:
    events = Recorder()
    state = ChatState(events)
    outgoing = Outgoing(2, "hello")
    state.outbox.add(outgoing)

    effect = state.handle_frame(
        frame(type="error", code="forbidden", error="not signed in", ack_id=outgoing.ack_id)
    )

    assert effect is Effect.RECONNECT
    assert events.refused == [("hello", "forbidden", "not signed in")]


def test_error_without_a_matching_send_is_a_notice() -> None:
    events = Recorder()
    state = ChatState(events)

    effect = state.handle_frame(frame(type="error", code="bad_request", error="empty frame"))

    assert effect is Effect.NONE
    assert events.notices == ["server error (bad_request): empty frame"]


def test_pong_unknown_and_broken_frames() -> None:
    events = Recorder()
    state = ChatState(events)

    assert state.handle_frame(frame(type="pong")) is Effect.PONG
    assert state.handle_frame(frame(type="read", message_ids=["a"], by=2)) is Effect.NONE
    assert state.handle_frame("{not json") is Effect.NONE
    assert state.handle_frame(frame(type="message", message={"id": "m"})) is Effect.NONE

    assert len(events.notices) == 2 and events.shown == []
