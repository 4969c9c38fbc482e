"""An in-memory ChatStore with the MongoDB adapter's semantics, for fast unit tests.

tests/contracts/store_contract.py runs the same suite against this and against
chalicelib.store.MongoChatStore, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from bson import ObjectId

from chalicelib.chat.domain import (
    Appended,
    ConversationId,
    ConversationSummary,
    Draft,
    Group,
    Membership,
    MessageState,
    Preview,
    ReadState,
    Role,
    StoredMessage,
    preview_of,
)
from chalicelib.chat.ports import ListCursor, UnreadCursor
from chalicelib.clock import utc_now_ms
from chalicelib.errors import BadRequest, Forbidden, NotFound


class _Conversation:
    def __init__(self, members: tuple[int, ...], at: datetime) -> None:
        self.members = members
        self.max_seq = 0
        self.last_at = at
        self.name = ""
        self.owner = 0
        self.version = 0
        self.created_at = at


class FakeChatStore:
    def __init__(self, clock: Callable[[], datetime] = utc_now_ms) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._messages: dict[str, StoredMessage] = {}
        self._by_seq: dict[tuple[str, int], str] = {}
        self._by_ack: dict[tuple[int, str], str] = {}
        self._conversations: dict[str, _Conversation] = {}
        self._members: dict[tuple[str, int], Membership] = {}
        self._previews: dict[tuple[str, int], Preview | None] = {}

    # --- MessageLog -----------------------------------------------------------------------

    def append(self, draft: Draft) -> Appended:
        with self._lock:
            key = str(draft.conversation)
            first = self._by_ack.get((draft.sender, draft.ack_id))
            if first is not None:
                message = self._messages[first]
                self._fan_out(message)
                return Appended(message, duplicate=True)
            conv = self._numbering(draft.conversation, draft.sender)
            now = self._clock()
            conv.max_seq += 1
            conv.last_at = max(conv.last_at, now)
            message = StoredMessage(
                id=str(ObjectId()),
                conversation=draft.conversation,
                seq=conv.max_seq,
                sender=draft.sender,
                content=draft.content,
                msg_type=draft.msg_type,
                ack_id=draft.ack_id,
                state=MessageState.ACTIVE,
                created_at=conv.last_at,
                updated_at=conv.last_at,
            )
            self._messages[message.id] = message
            self._by_seq[key, message.seq] = message.id
            self._by_ack[draft.sender, draft.ack_id] = message.id
            if not draft.conversation.is_group:
                self._fan_out(message)
            return Appended(message, duplicate=False, members=conv.members)

    def fan_out(self, message: StoredMessage) -> None:
        with self._lock:
            self._fan_out(message)

    def _numbering(self, conversation: ConversationId, sender: int) -> _Conversation:
        key = str(conversation)
        conv = self._conversations.get(key)
        if conversation.is_group:
            if conv is None:
                raise NotFound("no such group")
            if sender not in conv.members:
                raise Forbidden("you are not a member of this group")
            return conv
        if conv is None:
            now = self._clock()
            conv = self._conversations[key] = _Conversation(conversation.participants(), now)
            for user in conv.members:
                self._members[key, user] = Membership(
                    conversation, user, joined_at=now, last_at=now
                )
                self._previews[key, user] = None
        return conv

    def _fan_out(self, message: StoredMessage) -> None:
        key = str(message.conversation)
        for (conv_key, user), m in list(self._members.items()):
            if conv_key != key:
                continue
            if m.max_seq < message.seq:
                m = replace(m, max_seq=message.seq, last_at=message.created_at)
                self._previews[conv_key, user] = preview_of(message)
            if user == message.sender:
                m = m.reading(m.read.with_read([message.seq], {message.seq: message.created_at}))
            self._members[conv_key, user] = m

    def message(self, message_id: str) -> StoredMessage | None:
        _check_id(message_id)
        with self._lock:
            return self._messages.get(message_id)

    def messages(self, message_ids: Sequence[str]) -> list[StoredMessage]:
        for message_id in message_ids:
            _check_id(message_id)
        with self._lock:
            found = (self._messages.get(m) for m in dict.fromkeys(message_ids))
            return [m for m in found if m is not None]

    def recall(self, message: StoredMessage, at: datetime) -> StoredMessage | None:
        with self._lock:
            current = self._messages.get(message.id)
            if current is None or current.state is not MessageState.ACTIVE:
                return None
            recalled = replace(current, state=MessageState.RECALLED, content="", updated_at=at)
            self._messages[message.id] = recalled
            key = str(recalled.conversation)
            for (conv_key, user), m in list(self._members.items()):
                if conv_key != key:
                    continue
                if m.read.read_seq < recalled.seq:
                    self._members[conv_key, user] = m.reading(m.read.with_read([recalled.seq]))
                last = self._previews.get((conv_key, user))
                if last is not None and last.seq == recalled.seq:
                    self._previews[conv_key, user] = preview_of(recalled)
            return recalled

    def history(
        self,
        conversation: ConversationId,
        *,
        floor: int,
        after: int | None,
        before: int | None,
        limit: int,
    ) -> list[StoredMessage]:
        low = max(floor, after or 0)
        with self._lock:
            found = [
                m
                for m in self._messages.values()
                if m.conversation == conversation
                and m.seq > low
                and (before is None or m.seq < before)
            ]
        newest_first = before is not None or after is None
        found.sort(key=lambda m: m.seq, reverse=newest_first)
        return found[:limit]

    def unread(
        self, user: int, memberships: Sequence[Membership], limit: int, cursor: UnreadCursor | None
    ) -> list[StoredMessage]:
        wanted = {m.conversation: m for m in memberships}
        with self._lock:
            found = [
                message
                for message in self._messages.values()
                if (m := wanted.get(message.conversation)) is not None
                and message.seq > max(m.read.read_seq, m.joined_seq)
                and message.seq not in m.read.extra
                and message.state is MessageState.ACTIVE
                and message.sender != user
            ]
        found.sort(key=lambda m: (m.created_at, m.id))
        if cursor is not None:
            position = (cursor.created_at, cursor.message_id)
            found = [m for m in found if (m.created_at, m.id) > position]
        return found[:limit]

    # --- ReadStates -----------------------------------------------------------------------

    def membership(self, conversation: ConversationId, user: int) -> Membership | None:
        with self._lock:
            return self._members.get((str(conversation), user))

    def memberships(self, conversation: ConversationId) -> list[Membership]:
        key = str(conversation)
        with self._lock:
            found = [m for (k, _), m in self._members.items() if k == key]
        return sorted(found, key=lambda m: m.user)

    def memberships_of(self, user: int) -> list[Membership]:
        with self._lock:
            mine = [m for (_, u), m in self._members.items() if u == user]
            return [
                replace(m, max_seq=max(m.max_seq, self._conversations[str(m.conversation)].max_seq))
                if m.conversation.is_group
                else m
                for m in mine
            ]

    def change_read(
        self,
        conversation: ConversationId,
        user: int,
        change: Callable[[ReadState], ReadState],
    ) -> tuple[ReadState, ReadState] | None:
        with self._lock:
            m = self._members.get((str(conversation), user))
            if m is None:
                return None
            after = change(m.read)
            self._members[str(conversation), user] = m.reading(after)
            return m.read, after

    def note_peer_read(self, conversation: ConversationId, peer: int, read_seq: int) -> None:
        with self._lock:
            m = self._members.get((str(conversation), peer))
            if m is not None and m.peer_read_seq < read_seq:
                self._members[str(conversation), peer] = replace(m, peer_read_seq=read_seq)

    def conversations(
        self, user: int, limit: int, cursor: ListCursor | None
    ) -> tuple[list[ConversationSummary], ListCursor | None]:
        with self._lock:
            mine = [
                ConversationSummary(m, self._previews.get((k, u)))
                for (k, u), m in self._members.items()
                if u == user
            ]

        def key(s: ConversationSummary) -> tuple[float, str]:
            assert s.membership.last_at is not None
            return (-s.membership.last_at.timestamp(), str(s.membership.conversation))

        mine.sort(key=key)
        if cursor is not None:
            position = (-cursor.last_at.timestamp(), cursor.conversation)
            mine = [s for s in mine if key(s) > position]
        if len(mine) <= limit:
            return mine, None
        page = mine[:limit]
        last = page[-1].membership
        assert last.last_at is not None
        return page, ListCursor(last.last_at, str(last.conversation))

    # --- Groups ---------------------------------------------------------------------------

    def create_group(self, group: Group) -> bool:
        key = str(group.conversation)
        with self._lock:
            if key in self._conversations:
                return False
            conv = _Conversation(group.members, group.created_at)
            conv.name, conv.owner = group.name, group.owner
            self._conversations[key] = conv
            self._join(group.conversation, group.members, conv, group.created_at, None)
            return True

    def group(self, group_id: int) -> Group | None:
        with self._lock:
            conv = self._conversations.get(str(ConversationId.group(group_id)))
            return None if conv is None else _group(group_id, conv)

    def groups(self, group_ids: Iterable[int]) -> list[Group]:
        found = (self.group(g) for g in dict.fromkeys(group_ids))
        return [g for g in found if g is not None]

    def change_members(
        self, group: Group, members: tuple[int, ...], owner: int, at: datetime
    ) -> Group | None:
        key = str(group.conversation)
        with self._lock:
            conv = self._conversations.get(key)
            if conv is None or conv.version != group.version:
                return None
            joined = [u for u in members if u not in conv.members]
            left = [u for u in conv.members if u not in members]
            conv.members, conv.owner, conv.version = members, owner, conv.version + 1
            self._join(group.conversation, joined, conv, at, conv.last_at)
            for user in left:
                self._members.pop((key, user), None)
                self._previews.pop((key, user), None)
            m = self._members.get((key, owner))
            if m is not None:
                self._members[key, owner] = replace(m, role=Role.OWNER)
            return _group(group.group_id, conv)

    def _join(
        self,
        conversation: ConversationId,
        users: Iterable[int],
        conv: _Conversation,
        at: datetime,
        read_at: datetime | None,
    ) -> None:
        for user in users:
            if (str(conversation), user) in self._members:
                continue
            self._members[str(conversation), user] = Membership(
                conversation,
                user,
                role=Role.OWNER if user == conv.owner else Role.MEMBER,
                read=ReadState(conv.max_seq, (), read_at),
                joined_seq=conv.max_seq,
                joined_at=at,
                max_seq=conv.max_seq,
                last_at=at,
                name=conv.name,
            )
            self._previews[str(conversation), user] = None


def _group(group_id: int, conv: _Conversation) -> Group:
    return Group(
        group_id=group_id,
        name=conv.name,
        owner=conv.owner,
        members=conv.members,
        created_at=conv.created_at,
        max_seq=conv.max_seq,
        version=conv.version,
    )


def _check_id(message_id: object) -> None:
    if type(message_id) is not str or len(message_id) != 24:
        raise BadRequest("message ids are 24 hexadecimal characters")
    try:
        ObjectId(message_id)
    except Exception as exc:
        raise BadRequest("message ids are 24 hexadecimal characters") from exc
