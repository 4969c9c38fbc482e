"""Mark read (by message ids, v1; a whole conversation up to a seq, v1.1) and read
receipts: the senders of what was just read get a `read` frame, and so do the
reader's other devices (so their unread badges clear too)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib.chat.access import member_of
from chalicelib.chat.domain import ConversationId, ReadState, StoredMessage
from chalicelib.chat.ports import Delivery, Groups, MessageLog, ReadStates
from chalicelib.models.frames import ReadReceiptFrame
from chalicelib.observability import count

# A receipt names at most this many messages; past it, `read_seq` says the rest.
RECEIPT_IDS_MAX = 1000


@dataclass(frozen=True)
class ConversationRead:
    conversation: ConversationId
    read: ReadState
    unread_count: int
    updated: int


class Receipts:
    """Tell who needs to know that `reader` read `messages` of one conversation."""

    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery

    def __call__(
        self,
        reader: int,
        conversation: ConversationId,
        read: ReadState,
        messages: Sequence[StoredMessage],
        exclude: str | None,
    ) -> None:
        if not messages:
            return
        by_sender: dict[int, list[str]] = defaultdict(list)
        for message in messages[-RECEIPT_IDS_MAX:]:
            by_sender[message.sender].append(message.id)
        audience = self._delivery.audience([reader, *by_sender], exclude=exclude)
        for sender, ids in by_sender.items():
            self._delivery.push(
                audience.only([sender]), self._frame(reader, conversation, read, ids)
            )
        everything = [m.id for m in messages[-RECEIPT_IDS_MAX:]]
        mine = self._frame(reader, conversation, read, everything)
        self._delivery.push(audience.only([reader]), mine)

    @staticmethod
    def _frame(
        reader: int, conversation: ConversationId, read: ReadState, ids: list[str]
    ) -> ReadReceiptFrame:
        return ReadReceiptFrame(
            message_ids=ids, by=reader, conversation_id=str(conversation), read_seq=read.read_seq
        )


class MarkRead:
    """v1 mark-read: only the caller's own unread messages change; returns how many."""

    def __init__(self, log: MessageLog, states: ReadStates, receipts: Receipts) -> None:
        self._log, self._states, self._receipts = log, states, receipts

    def __call__(self, user: int, message_ids: Sequence[str], connection_id: str | None) -> int:
        found = self._log.messages(message_ids)  # validates every id before any write
        by_conversation: dict[ConversationId, list[StoredMessage]] = defaultdict(list)
        for message in found:
            if message.sender != user and not message.recalled:
                by_conversation[message.conversation].append(message)
        updated = 0
        for conversation, messages in by_conversation.items():
            membership = self._states.membership(conversation, user)
            if membership is None:  # not addressed to the caller: left alone
                continue
            visible = sorted((m for m in messages if membership.sees(m.seq)), key=lambda m: m.seq)
            times = {m.seq: m.created_at for m in visible}
            changed = self._states.change_read(conversation, user, _reading(times))
            if changed is None:
                continue
            before, after = changed
            newly = set(after.newly_read(before, times))
            read_now = [m for m in visible if m.seq in newly]
            updated += len(read_now)
            if not conversation.is_group and after.read_seq > before.read_seq:
                self._states.note_peer_read(
                    conversation, conversation.peer_of(user), after.read_seq
                )
            self._receipts(user, conversation, after, read_now, connection_id)
        count("MessagesMarkedRead", updated)
        return updated


class MarkConversationRead:
    """Everything up to `seq` (default: the newest) read, in one conversation."""

    def __init__(
        self, log: MessageLog, states: ReadStates, groups: Groups, receipts: Receipts
    ) -> None:
        self._log, self._states, self._groups, self._receipts = log, states, groups, receipts

    def __call__(
        self, user: int, conversation: ConversationId, seq: int | None, connection_id: str | None
    ) -> ConversationRead:
        membership = member_of(self._states, self._groups, conversation, user)
        target = membership.max_seq if seq is None else min(seq, membership.max_seq)
        start = max(membership.read.read_seq, membership.joined_seq)
        span = []
        if target > start:
            span = self._log.history(
                conversation, floor=start, after=None, before=target + 1, limit=RECEIPT_IDS_MAX
            )
        times = {span[0].seq: span[0].created_at} if span else {}
        changed = self._states.change_read(conversation, user, lambda r: r.up_to(target, times))
        if changed is None:  # a 1:1 conversation with nothing in it yet
            return ConversationRead(conversation, membership.read, 0, 0)
        before, after = changed
        read_now = sorted(
            (m for m in span if m.sender != user and not m.recalled and not before.has_read(m.seq)),
            key=lambda m: m.seq,
        )
        updated = before.unread_count(membership.max_seq) - after.unread_count(membership.max_seq)
        if not conversation.is_group and after.read_seq > before.read_seq:
            self._states.note_peer_read(conversation, conversation.peer_of(user), after.read_seq)
        self._receipts(user, conversation, after, read_now, connection_id)
        count("MessagesMarkedRead", max(0, updated))
        return ConversationRead(
            conversation, after, after.unread_count(membership.max_seq), max(0, updated)
        )


def _reading(times: dict[int, datetime]) -> Callable[[ReadState], ReadState]:
    def change(state: ReadState) -> ReadState:
        return state.with_read(times, times)

    return change
