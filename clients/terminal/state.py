"""What a chat session knows and how server frames change it -- no I/O, no clock.

`ChatState` holds the user's conversations (docs/protocol.md, v1.1), which one is
open, the sends in flight, and what is to be marked read. Server frames and REST
answers go in; what the UI must redraw goes out through `ChatEvents`, and what the
connection loop (session.py) must do next through `Effect` flags:

- messages are placed in their conversation by `seq` and deduplicated by id; the open
  conversation is shown, the others only counted (unread badges);
- a message above what the open conversation has leaves a gap: `Effect.SYNC`, and
  `next_fetch()` says which history page to ask for;
- what was shown of the open conversation is marked read up to its seq (`to_mark`);
- `read`, `recalled` and `group` frames update receipts, recalls and memberships.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Flag, StrEnum, auto
from typing import Any, ClassVar, Protocol

from clients.terminal.conversations import Conversation, Fetch
from clients.terminal.messages import (
    Ack,
    BadFrame,
    ChatMessage,
    ConversationInfo,
    ConversationRef,
    GroupChange,
    GroupInfo,
    HistoryPage,
    Member,
    Outbox,
    Outgoing,
    ReadReceipt,
    Recalled,
    SeenIds,
    parse_frame,
)

# The first page of a conversation: up to CATCH_UP_MAX unread messages after a few
# already read ones for context; more unread than that: the newest page.
CATCH_UP_MAX = 200
CONTEXT = 5
PAGE = 50
# History requests per sync pass; a pass that needs more runs again on the next wake.
FETCHES_PER_PASS = 20


class Status(StrEnum):
    CONNECTING = "connecting…"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting…"
    CLOSED = "closed"


class ChatEvents(Protocol):
    """What the UI is told; always called on the event loop's thread."""

    def status_changed(self, status: Status, detail: str) -> None: ...
    def conversations_changed(self) -> None: ...
    def conversation_opened(self, conversation: Conversation) -> None: ...
    def messages_changed(self, conversation: Conversation, messages: list[ChatMessage]) -> None: ...
    def messages_dropped(self, conversation: Conversation, messages: list[ChatMessage]) -> None: ...
    def send_acknowledged(self, outgoing: Outgoing, ack: Ack) -> None: ...
    def send_refused(self, outgoing: Outgoing, code: str, text: str) -> None: ...
    def notice(self, text: str, conversation_id: str | None = None) -> None: ...


class Effect(Flag):
    """What a handled frame means for the connection loop (any combination)."""

    NONE = 0
    SETTLED = auto()  # the send in flight got its ack or error: send the next
    TO_MARK = auto()  # something was shown: mark it read
    PONG = auto()
    SYNC = auto()  # the open conversation has a gap, or the list is stale
    RECONNECT = auto()  # give up on this connection: open a new one with a fresh token
    AUTH = auto()  # the server does not know this connection now: send a fresh token
    RETRY = auto()  # signed in again: send again what was refused meanwhile (same ack_id)


def means_sign_in_again(code: str, text: str) -> bool:
    """An `error` frame that says this connection lost its sign-in: `unauthorized`,
    or `forbidden` saying the connection is not signed in (presence lost). Any other
    `forbidden` is a refusal (not a member, not yours) and the connection is fine."""
    return code == "unauthorized" or (code == "forbidden" and "not signed in" in text.lower())


class ChatState:
    def __init__(self, events: ChatEvents, me: int | None = None, page_size: int = PAGE) -> None:
        self.events = events
        self.me = me
        self.page_size = page_size  # messages per page when opening and scrolling back
        self.conversations: dict[str, Conversation] = {}
        self.open_id: str | None = None
        self.seen = SeenIds()
        self.outbox = Outbox()
        self.to_mark: dict[str, int] = {}  # conversation -> mark read up to this seq
        self.list_stale = False
        self.older_wanted = False
        self.auth_attempts = 0  # `auth` frames sent since the last success

    # --- conversations ------------------------------------------------------------------

    @property
    def open_conversation(self) -> Conversation | None:
        return None if self.open_id is None else self.conversations.get(self.open_id)

    def conversation(self, ref: ConversationRef) -> Conversation:
        """The conversation `ref` names, known from now on."""
        found = self.conversations.get(ref.id)
        if found is None:
            if self.me is None:
                raise ValueError("not signed in yet")
            found = self.conversations[ref.id] = Conversation(ref, self.me)
        return found

    def open(self, ref: ConversationRef) -> tuple[Conversation, Effect]:
        """Show `ref`'s conversation; its history is to be fetched (Effect.SYNC)."""
        conversation = self.conversation(ref)
        if self.open_id != ref.id:
            self.open_id = ref.id
            self.older_wanted = False
        conversation.unread = 0
        conversation.blocked = ""
        self.events.conversation_opened(conversation)
        self.events.conversations_changed()
        return conversation, Effect.SYNC | self._schedule_mark(conversation)

    def listed(self) -> list[Conversation]:
        """The conversations to list, newest activity first; the open one always."""
        shown = [
            c
            for c in self.conversations.values()
            if (c.member and (c.listed or c.max_seq > 0 or c.is_group)) or c.id == self.open_id
        ]
        return sorted(
            shown,
            key=lambda c: (c.last_activity_at is not None, c.last_activity_at, c.id),
            reverse=True,
        )

    def unread_elsewhere(self) -> int:
        return sum(c.unread for c in self.listed() if c.id != self.open_id)

    def merge_list(self, entries: list[ConversationInfo], complete: bool) -> Effect:
        """A conversation list page (or all of it, when `complete`)."""
        effect = Effect.NONE
        for info in entries:
            c = self.conversation(info.ref)
            c.update_from(info, is_open=c.id == self.open_id)
            if c.id == self.open_id:
                effect |= self._schedule_mark(c)
                if c.gap or not c.loaded:
                    effect |= Effect.SYNC
        if complete:  # a group missing from the whole list is one this user left
            listed = {info.ref.id for info in entries}
            for c in self.conversations.values():
                if c.is_group and c.listed and c.id not in listed:
                    c.member = False
        self.list_stale = False
        self.events.conversations_changed()
        return effect

    def group_known(self, info: GroupInfo) -> Conversation:
        """A group this user created or was told about over REST."""
        c = self.conversation(info.ref)
        c.name, c.member = info.name, True
        self.events.conversations_changed()
        return c

    # --- history ------------------------------------------------------------------------

    def next_fetch(self) -> Fetch | None:
        """The history page the open conversation needs next, if any."""
        c = self.open_conversation
        if c is None or c.blocked or not c.member:
            return None
        if not c.loaded:
            span = c.max_seq - c.read_seq
            if c.listed and 0 < span <= CATCH_UP_MAX:
                return Fetch(c.id, after_seq=max(0, c.read_seq - CONTEXT), limit=CATCH_UP_MAX)
            return Fetch(c.id, limit=self.page_size)
        if c.gap:
            return Fetch(c.id, after_seq=c.top, limit=CATCH_UP_MAX)
        if self.older_wanted:
            if not c.has_older or c.floor is None:
                self.older_wanted = False
                self.events.notice("no older messages", c.id)
                return None
            return Fetch(c.id, before_seq=c.floor, limit=self.page_size)
        return None

    def history_loaded(self, fetch: Fetch, page: HistoryPage) -> Effect:
        c = self.conversations.get(fetch.conversation_id)
        if c is None or page.conversation_id != c.id:
            return Effect.NONE
        first = not c.loaded
        new = c.merge(fetch, page)
        for message in new:
            self.seen.add(message.id)
        if fetch.before_seq is not None:
            self.older_wanted = False
            more = "; /more for older" if c.has_older else ""
            self.events.notice(f"{len(new)} older message{_s(len(new))} above{more}", c.id)
        self._changed(c, new)
        if first:
            skipped = c.floor is not None and c.read_seq + 1 < c.floor and c.max_seq > c.read_seq
            if skipped and fetch.after_seq is None:
                self.events.notice("more unread messages above: /more or PageUp", c.id)
            elif c.has_older:
                self.events.notice("older messages: /more or PageUp", c.id)
        self.events.conversations_changed()
        return self._schedule_mark(c)

    def history_refused(self, fetch: Fetch, status: int, text: str) -> None:
        """History of `fetch`'s conversation was refused (403, 404): stop asking."""
        c = self.conversations.get(fetch.conversation_id)
        if c is None:
            return
        c.blocked = text or f"HTTP {status}"
        c.loaded = True
        if c.is_group and status in (403, 404):
            c.member = False
        self.older_wanted = False
        self.events.notice(f"cannot read this conversation: {c.blocked}", c.id)
        self.events.conversations_changed()

    def members_loaded(self, conversation_id: str, members: list[Member]) -> None:
        c = self.conversations.get(conversation_id)
        if c is None:
            return
        c.set_members(members)
        self._changed(c, [m for m in c.ordered() if m.sender == self.me])

    def members_wanted(self) -> str | None:
        """The open group whose members (for "read by N") are not known yet."""
        c = self.open_conversation
        if c is None or not c.is_group or not c.member or c.blocked or c.readers is not None:
            return None
        return c.id

    # --- marking read -------------------------------------------------------------------

    def _schedule_mark(self, c: Conversation) -> Effect:
        """The open conversation is shown up to `top`: mark that read."""
        if c.id != self.open_id or not c.loaded or c.blocked or not c.member:
            return Effect.NONE
        c.unread = 0
        if c.top <= c.read_seq:
            return Effect.NONE
        self.to_mark[c.id] = max(self.to_mark.get(c.id, 0), c.top)
        return Effect.TO_MARK

    def marked(self, conversation_id: str, seq: int, read_seq: int, unread: int) -> None:
        """The server marked `conversation_id` read up to `seq`: now at `read_seq`."""
        if self.to_mark.get(conversation_id, 0) <= seq:
            self.to_mark.pop(conversation_id, None)
        c = self.conversations.get(conversation_id)
        if c is not None:
            c.read_seq = max(c.read_seq, read_seq)
            c.unread = 0 if c.id == self.open_id else unread
            self.events.conversations_changed()

    def mark_refused(self, conversation_id: str) -> None:
        """Marking read was refused for good (e.g. removed from the group)."""
        self.to_mark.pop(conversation_id, None)

    # --- sending ------------------------------------------------------------------------

    def outgoing(self, content: str) -> Outgoing:
        """A line for the open conversation, queued; raises ValueError when none is."""
        c = self.open_conversation
        if c is None:
            raise ValueError("open a conversation first: /to <user id> or /group <id>")
        if c.is_group:
            outgoing = Outgoing(None, content, group_id=c.ref.group_id, conversation_id=c.id)
        else:
            outgoing = Outgoing(c.peer, content, conversation_id=c.id)
        self.outbox.add(outgoing)
        return outgoing

    # --- frames -------------------------------------------------------------------------

    def handle_frame(self, raw: str | bytes) -> Effect:
        try:
            frame = parse_frame(raw)
            handler = self._handlers.get(frame["type"])
            return Effect.NONE if handler is None else handler(self, frame)
        except BadFrame as exc:
            self.events.notice(f"ignored a frame from the server: {exc}")
            return Effect.NONE

    def place(self, message: ChatMessage) -> Effect:
        """A message that arrived (pushed, or this user's own acknowledged send)."""
        if self.me is None:
            return Effect.NONE
        c = self.conversation(ConversationRef.parse(message.conversation_id))
        new = self.seen.add(message.id)
        counts = new and message.sender != self.me and not message.recalled
        if counts and message.seq > c.max_seq and c.id != self.open_id:
            c.unread += 1
        if c.loaded or c.id == self.open_id:
            if c.place(message):
                self._changed(c, [message])
                self._changed(c, c.trim(), dropped=True)
        else:  # never opened: only its list entry changes
            c.note_activity(message)
        self.events.conversations_changed()
        if c.id != self.open_id:
            return Effect.NONE
        return self._schedule_mark(c) | (Effect.SYNC if c.gap else Effect.NONE)

    def _on_message(self, frame: dict[str, Any]) -> Effect:
        message = ChatMessage.from_wire(
            frame.get("message"), frame.get("conversation_id"), frame.get("seq")
        )
        return self.place(message)

    def _on_ack(self, frame: dict[str, Any]) -> Effect:
        head = self.outbox.settle(frame.get("ack_id"))
        if head is None:
            return Effect.NONE  # the twin of an ack already seen (a resend): ignore
        ack = Ack.from_wire(frame)
        effect = Effect.SETTLED
        if ack.seq is not None and self.me is not None and ack.message_id:
            message = ChatMessage(
                id=ack.message_id,
                sender=self.me,
                to=head.to or 0,
                content=head.content,
                created_at=ack.created_at or head.typed_at,
                conversation_id=ack.conversation_id or head.conversation_id,
                seq=ack.seq,
                group_id=head.group_id or 0,
            )
            effect |= self.place(message)
        self.events.send_acknowledged(head, ack)
        return effect

    def _on_error(self, frame: dict[str, Any]) -> Effect:
        code, text = str(frame.get("code", "error")), str(frame.get("error", ""))
        if means_sign_in_again(code, text):
            # Nothing was done: a send in flight stays queued. The first answer is an
            # `auth` frame on this connection (presence lost it: no reconnect storm);
            # if that does not help, or the server closed it, a new connection.
            self.auth_attempts += 1
            return Effect.AUTH if self.auth_attempts <= 2 else Effect.RECONNECT
        head = self.outbox.settle(frame.get("ack_id"))
        if head is None:
            self.events.notice(f"server error ({code}): {text}")
            return Effect.NONE
        self.events.send_refused(head, code, text)
        return Effect.SETTLED

    def _on_pong(self, _frame: dict[str, Any]) -> Effect:
        return Effect.PONG

    def _on_authenticated(self, _frame: dict[str, Any]) -> Effect:
        self.auth_attempts = 0
        return Effect.RETRY

    def _on_read(self, frame: dict[str, Any]) -> Effect:
        receipt = ReadReceipt.from_wire(frame)
        c = self.conversations.get(receipt.conversation_id)
        if c is None:
            return Effect.NONE
        if receipt.by == self.me:  # this user, on another device (or this one, via REST)
            c.read_myself(receipt.read_seq)
            if c.id == self.open_id:
                c.unread = 0
            if self.to_mark.get(c.id, 0) <= c.read_seq:
                self.to_mark.pop(c.id, None)
            self.events.conversations_changed()
            return Effect.NONE
        changed = c.read_by(receipt.by, receipt.read_seq, receipt.message_ids)
        messages = [m for m in (c.by_id(i) for i in changed) if m is not None]
        self._changed(c, messages)
        return Effect.NONE

    def _on_recalled(self, frame: dict[str, Any]) -> Effect:
        recalled = Recalled.from_wire(frame)
        return self.recalled(recalled.conversation_id, recalled.seq, recalled.by)

    def recalled(self, conversation_id: str, seq: int, by: int) -> Effect:
        """A message was recalled (a `recalled` frame, or this user's own recall)."""
        c = self.conversations.get(conversation_id)
        if c is None:
            return Effect.NONE
        message = c.recall(seq, by)
        if message is not None:
            self._changed(c, [message])
        self.events.conversations_changed()
        return Effect.NONE

    def _on_group(self, frame: dict[str, Any]) -> Effect:
        change = GroupChange.from_wire(frame)
        if self.me is None:
            return Effect.NONE
        c = self.conversation(change.ref)
        if change.name:
            c.name = change.name
        me, by = self.me, change.by
        who = "you" if by == me else str(by)
        others = [u for u in change.user_ids if u != me]
        names = ", ".join(str(u) for u in others)
        title = f'"{c.title}"'
        effect = Effect.NONE
        if change.event == "created":
            c.member = True
            c.set_members([Member(u, u == by, None, 0) for u in change.user_ids])
            if by == me:
                text = f"you created group {title} with {names or 'nobody else yet'}"
            else:
                text = f"{by} added you to a new group {title}"
        elif change.event == "members_added":
            if me in change.user_ids:
                c.member, c.blocked, c.readers = True, "", None
                text = f"{who} added you to group {title}"
                self.list_stale = True
                effect = Effect.SYNC
            else:
                c.members_changed(change.user_ids, ())
                text = f"{who} added {names} to {title}"
        elif change.event == "members_removed":
            if me in change.user_ids:
                c.member = False
                text = f"{who} removed you from group {title}"
            else:
                c.members_changed((), change.user_ids)
                text = f"{who} removed {names} from {title}"
        else:  # member_left
            if by == me:
                c.member = False
                text = f"you left group {title}"
            else:
                c.members_changed((), (by,))
                text = f"{by} left {title}"
        # What others did to this user is said wherever the user is; the rest in the
        # group's own transcript.
        to_me = me in change.user_ids and by != me
        self.events.notice(text, None if to_me else c.id)
        self.events.conversations_changed()
        return effect

    def _changed(self, c: Conversation, messages: list[ChatMessage], dropped: bool = False) -> None:
        if not messages:
            return
        if dropped:
            self.events.messages_dropped(c, messages)
        else:
            self.events.messages_changed(c, messages)

    _handlers: ClassVar[dict[str, Callable[[ChatState, dict[str, Any]], Effect]]] = {
        "message": _on_message,
        "ack": _on_ack,
        "error": _on_error,
        "pong": _on_pong,
        "authenticated": _on_authenticated,
        "read": _on_read,
        "recalled": _on_recalled,
        "group": _on_group,
    }


def _s(n: int) -> str:
    return "" if n == 1 else "s"
