"""Reading without changing anything: unread (v1), history, the conversation list."""

from __future__ import annotations

import json
from dataclasses import dataclass

from chalicelib.chat.access import member_of
from chalicelib.chat.domain import (
    ConversationId,
    ConversationSummary,
    Membership,
    Page,
    StoredMessage,
)
from chalicelib.chat.ports import Groups, ListCursor, MessageLog, ReadStates, UnreadCursor
from chalicelib.cursors import decode_list, decode_unread, encode_list, encode_unread

# Every field of a message object but its content, as JSON (for the page byte budget).
_MESSAGE_OVERHEAD_BYTES = 320


def _fitting(messages: list[StoredMessage], max_bytes: int) -> int:
    """How many of `messages`, at least one, fit in `max_bytes` of JSON."""
    total = 0
    for n, message in enumerate(messages):
        total += _MESSAGE_OVERHEAD_BYTES + len(
            json.dumps(message.content, ensure_ascii=False).encode()
        )
        if total > max_bytes and n > 0:
            return n
    return len(messages)


class UnreadMessages:
    """v1: the user's unread messages over every conversation, oldest first, keyset
    paged. A page costs one query for the user's memberships and one for the messages,
    however many messages are unread."""

    def __init__(self, log: MessageLog, states: ReadStates, max_page_bytes: int) -> None:
        self._log, self._states, self._max_bytes = log, states, max_page_bytes

    def __call__(self, user: int, limit: int, cursor: str | None) -> Page[StoredMessage]:
        after = decode_unread(cursor) if cursor is not None else None
        pending = [m for m in self._states.memberships_of(user) if m.unread_count() > 0]
        found = self._log.unread(user, pending, limit + 1, after)
        kept = found[:limit]
        kept = kept[: _fitting(kept, self._max_bytes)]
        if len(found) <= len(kept):
            return Page(kept, None)
        last = kept[-1]
        return Page(kept, encode_unread(UnreadCursor(last.created_at, last.id)))


@dataclass(frozen=True)
class HistoryPage:
    conversation: ConversationId
    messages: list[tuple[StoredMessage, bool]]  # oldest first, with "read by its addressee"
    has_more: bool
    me: Membership
    peer: Membership | None


class History:
    """A page of a conversation the user belongs to: the newest (no bound), before a
    seq (scrolling back) or after one (catching up) -- keyset on seq, so pages never
    shift when messages arrive meanwhile."""

    def __init__(self, log: MessageLog, states: ReadStates, groups: Groups) -> None:
        self._log, self._states, self._groups = log, states, groups

    def __call__(
        self,
        user: int,
        conversation: ConversationId,
        before: int | None,
        after: int | None,
        limit: int,
    ) -> HistoryPage:
        me = member_of(self._states, self._groups, conversation, user)
        found = self._log.history(
            conversation, floor=me.joined_seq, after=after, before=before, limit=limit + 1
        )
        has_more = len(found) > limit
        page = sorted(found[:limit], key=lambda m: m.seq)
        peer = None
        if not conversation.is_group:
            other = conversation.peer_of(user)
            peer = me if other == user else self._states.membership(conversation, other)
        return HistoryPage(
            conversation, [(m, self._read(m, me, peer)) for m in page], has_more, me, peer
        )

    @staticmethod
    def _read(message: StoredMessage, me: Membership, peer: Membership | None) -> bool:
        """1:1: whether the recipient has read it; group: whether the caller has."""
        if peer is None:
            return message.sender == me.user or me.read.has_read(message.seq)
        recipient = me if message.sender != me.user else peer
        return recipient.read.has_read(message.seq)


class ListConversations:
    def __init__(self, states: ReadStates) -> None:
        self._states = states

    def __call__(self, user: int, limit: int, cursor: str | None) -> Page[ConversationSummary]:
        after: ListCursor | None = decode_list(cursor) if cursor is not None else None
        items, following = self._states.conversations(user, limit, after)
        return Page(items, encode_list(following) if following is not None else None)
