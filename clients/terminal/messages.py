"""The wire, as the client reads and writes it: small frozen types, no I/O.

The shapes are contract.md section 4 (the v1 message object) and docs/protocol.md's
v1.1 additions (conversations, `seq`, groups, recall, receipts, history), parsed here
with the client's own code: the client depends on nothing server-side. Also: local-time
formatting, the bounded set of message ids already seen, control-character escaping.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

USER_ID_MAX = 2**63 - 1
GROUP_ID_MAX = 2**53 - 1
CONTENT_MAX_CHARS = 8000

STATUS_UNREAD = 0
STATUS_READ = 1
STATUS_RECALLED = 2


class BadFrame(ValueError):
    """A server frame or body that does not have the protocol's shape."""


def parse_user_id(text: str) -> int:
    """A user id typed by a person: a decimal in 1 .. 2^63-1."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= USER_ID_MAX:
        raise ValueError("a user id is a whole number from 1 to 2^63-1")
    return int(text)


def parse_group_id(text: str) -> int:
    """A group id typed by a person: a decimal in 1 .. 2^53-1."""
    text = text.strip().removeprefix("g:")
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= GROUP_ID_MAX:
        raise ValueError("a group id is a whole number from 1 to 2^53-1")
    return int(text)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters made visible: another user's message must not
    be able to send escape sequences to this terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def parse_timestamp(text: str) -> datetime:
    """The server's `2026-11-27T08:10:21.123Z` as an aware datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("timestamp has no time zone")
    return value


# --- conversations ------------------------------------------------------------------

_CONVERSATION = re.compile(r"d:([1-9][0-9]{0,18}):([1-9][0-9]{0,18})|g:([1-9][0-9]{0,15})")


def direct_id(a: int, b: int) -> str:
    """The 1:1 conversation of `a` and `b` (`d:5:5` is a note to self)."""
    return f"d:{min(a, b)}:{max(a, b)}"


def group_conversation_id(group_id: int) -> str:
    return f"g:{group_id}"


@dataclass(frozen=True)
class ConversationRef:
    """A conversation id taken apart: a group, or the pair of a 1:1 conversation."""

    id: str
    group_id: int | None = None
    pair: tuple[int, int] = (0, 0)

    @classmethod
    def parse(cls, text: object) -> ConversationRef:
        match = _CONVERSATION.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise BadFrame("malformed conversation_id")
        if match.group(3) is not None:
            group_id = int(match.group(3))
            if group_id > GROUP_ID_MAX:
                raise BadFrame("malformed conversation_id")
            return cls(str(text), group_id=group_id)
        low, high = int(match.group(1)), int(match.group(2))
        if low > high or high > USER_ID_MAX:
            raise BadFrame("malformed conversation_id")
        return cls(str(text), pair=(low, high))

    @classmethod
    def direct(cls, a: int, b: int) -> ConversationRef:
        return cls(direct_id(a, b), pair=(min(a, b), max(a, b)))

    @classmethod
    def group(cls, group_id: int) -> ConversationRef:
        return cls(group_conversation_id(group_id), group_id=group_id)

    @property
    def is_group(self) -> bool:
        return self.group_id is not None

    def peer_of(self, me: int) -> int:
        """The other user of a 1:1 conversation (yourself, for a note to self)."""
        low, high = self.pair
        return high if me == low else low


# --- field readers ------------------------------------------------------------------


def _int(data: Mapping[str, Any], key: str, minimum: int = 0) -> int:
    value = data.get(key)
    if type(value) is not int or value < minimum:
        raise BadFrame(f"`{key}` is not an integer >= {minimum}")
    return value


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise BadFrame(f"`{key}` is not a string")
    return value


def _time(data: Mapping[str, Any], key: str) -> datetime:
    try:
        return parse_timestamp(_str(data, key))
    except ValueError as exc:
        raise BadFrame(f"`{key}` is not a timestamp") from exc


def _opt_time(data: Mapping[str, Any], key: str) -> datetime | None:
    return None if data.get(key) is None else _time(data, key)


def _object(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise BadFrame(f"{what} is not an object")
    return data


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise BadFrame(f"`{key}` is not a list")
    return value


def _user_ids(data: Mapping[str, Any], key: str) -> tuple[int, ...]:
    ids = _list(data, key)
    if not all(type(i) is int and 1 <= i <= USER_ID_MAX for i in ids):
        raise BadFrame(f"`{key}` is not a list of user ids")
    return tuple(ids)


# --- messages -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChatMessage:
    """A message where it belongs: the v1 object plus its conversation and `seq`."""

    id: str
    sender: int
    to: int  # 0 for a group message
    content: str
    created_at: datetime
    conversation_id: str
    seq: int
    group_id: int = 0
    status: int = STATUS_UNREAD

    @classmethod
    def from_wire(
        cls, data: object, conversation_id: object = None, seq: object = None
    ) -> ChatMessage:
        """A message object; `conversation_id` and `seq` beside it (a `message`
        frame) or inside it (history)."""
        m = _object(data, "message")
        try:
            message_id, content = _str(m, "id"), _str(m, "content")
            if not message_id:
                raise BadFrame("message id is empty")
            sender, to = m.get("from"), m.get("to")
            if type(sender) is not int or type(to) is not int:
                raise BadFrame("message sender or recipient is not an integer")
            group_id = m.get("group_id", 0)
            if type(group_id) is not int:
                raise BadFrame("message group_id is not an integer")
            where = ConversationRef.parse(m.get("conversation_id", conversation_id))
            place = m.get("seq", seq)
            if type(place) is not int or place < 1:
                raise BadFrame("message has no seq")
            status = m.get("status", STATUS_UNREAD)
            return cls(
                id=message_id,
                sender=sender,
                to=to,
                content=content,
                created_at=_time(m, "created_at"),
                conversation_id=where.id,
                seq=place,
                group_id=group_id,
                status=status if type(status) is int else STATUS_UNREAD,
            )
        except BadFrame as exc:
            raise BadFrame(f"malformed message: {exc}") from exc

    @property
    def recalled(self) -> bool:
        return self.status == STATUS_RECALLED

    def recall(self) -> ChatMessage:
        return replace(self, content="", status=STATUS_RECALLED)


@dataclass(frozen=True)
class Preview:
    """A conversation's last message as its list entry shows it."""

    id: str
    seq: int
    sender: int
    content: str
    recalled: bool
    created_at: datetime

    @classmethod
    def from_wire(cls, data: object) -> Preview:
        m = _object(data, "last_message")
        return cls(
            id=_str(m, "id"),
            seq=_int(m, "seq", 1),
            sender=_int(m, "from", 1),
            content=_str(m, "content"),
            recalled=m.get("status") == STATUS_RECALLED,
            created_at=_time(m, "created_at"),
        )

    @classmethod
    def of(cls, message: ChatMessage) -> Preview:
        return cls(
            message.id,
            message.seq,
            message.sender,
            message.content,
            message.recalled,
            message.created_at,
        )


@dataclass(frozen=True)
class ConversationInfo:
    """One entry of the conversation list (`/api/v1/conversations`)."""

    ref: ConversationRef
    name: str
    last: Preview | None
    last_activity_at: datetime | None
    max_seq: int
    read_seq: int
    unread_count: int
    peer_read_seq: int

    @classmethod
    def from_wire(cls, data: object) -> ConversationInfo:
        c = _object(data, "conversation")
        ref = ConversationRef.parse(c.get("conversation_id"))
        name = c.get("name")
        last = c.get("last_message")
        return cls(
            ref=ref,
            name=name if isinstance(name, str) else "",
            last=None if last is None else Preview.from_wire(last),
            last_activity_at=_opt_time(c, "last_activity_at"),
            max_seq=_int(c, "max_seq"),
            read_seq=_int(c, "read_seq"),
            unread_count=_int(c, "unread_count"),
            peer_read_seq=_opt_int(c, "peer_read_seq") or 0,
        )


@dataclass(frozen=True)
class ConversationPage:
    conversations: list[ConversationInfo]
    next_cursor: str | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ConversationPage:
        cursor = data.get("next_cursor")
        return cls(
            [ConversationInfo.from_wire(c) for c in _list(data, "conversations")],
            cursor if isinstance(cursor, str) and cursor else None,
        )


@dataclass(frozen=True)
class HistoryPage:
    """A page of one conversation, oldest first (`/api/v1/conversations/history`)."""

    conversation_id: str
    messages: list[ChatMessage]
    has_more: bool
    max_seq: int
    read_seq: int
    peer_read_seq: int

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> HistoryPage:
        where = ConversationRef.parse(data.get("conversation_id")).id
        messages = [ChatMessage.from_wire(m) for m in _list(data, "messages")]
        if any(m.conversation_id != where for m in messages):
            raise BadFrame("history holds a message of another conversation")
        return cls(
            conversation_id=where,
            messages=sorted(messages, key=lambda m: m.seq),
            has_more=data.get("has_more") is True,
            max_seq=_int(data, "max_seq"),
            read_seq=_int(data, "read_seq"),
            peer_read_seq=_opt_int(data, "peer_read_seq") or 0,
        )


@dataclass(frozen=True)
class GroupInfo:
    """A group as `/api/v1/groups/*` describe it."""

    group_id: int
    name: str
    owner: int
    member_count: int

    @classmethod
    def from_wire(cls, data: object) -> GroupInfo:
        g = _object(data, "group")
        return cls(
            _int(g, "group_id", 1), _str(g, "name"), _int(g, "owner", 1), _int(g, "member_count")
        )

    @property
    def ref(self) -> ConversationRef:
        return ConversationRef.group(self.group_id)


@dataclass(frozen=True)
class Member:
    """A group member with how far they have read (`/api/v1/groups/members`)."""

    user_id: int
    owner: bool
    joined_at: datetime | None
    read_seq: int

    @classmethod
    def from_wire(cls, data: object) -> Member:
        m = _object(data, "member")
        return cls(
            _int(m, "user_id", 1),
            m.get("role") == "owner",
            _opt_time(m, "joined_at"),
            _int(m, "read_seq"),
        )


def members_from_wire(data: Mapping[str, Any]) -> list[Member]:
    return [Member.from_wire(m) for m in _list(data, "members")]


# --- server frames beyond `message` -------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """The server's word that a send is stored: its id, time and place."""

    message_id: str
    created_at: datetime | None
    duplicate: bool
    conversation_id: str | None = None
    seq: int | None = None

    @classmethod
    def from_wire(cls, frame: Mapping[str, Any]) -> Ack:
        try:
            created_at: datetime | None = parse_timestamp(str(frame.get("created_at")))
        except ValueError:
            created_at = None  # still acknowledged; the time is only for display
        try:
            where: str | None = ConversationRef.parse(frame.get("conversation_id")).id
        except BadFrame:
            where = None
        seq = frame.get("seq")
        return cls(
            str(frame.get("message_id", "")),
            created_at,
            frame.get("duplicate") is True,
            where,
            seq if type(seq) is int and seq >= 1 else None,
        )


@dataclass(frozen=True)
class ReadReceipt:
    """`by` has read up to `read_seq` of a conversation, and `message_ids` just now."""

    conversation_id: str
    by: int
    read_seq: int
    message_ids: tuple[str, ...]

    @classmethod
    def from_wire(cls, frame: Mapping[str, Any]) -> ReadReceipt:
        ids = _list(frame, "message_ids")
        return cls(
            ConversationRef.parse(frame.get("conversation_id")).id,
            _int(frame, "by", 1),
            _int(frame, "read_seq"),
            tuple(i for i in ids if isinstance(i, str)),
        )


@dataclass(frozen=True)
class Recalled:
    message_id: str
    conversation_id: str
    seq: int
    by: int

    @classmethod
    def from_wire(cls, frame: Mapping[str, Any]) -> Recalled:
        return cls(
            _str(frame, "message_id"),
            ConversationRef.parse(frame.get("conversation_id")).id,
            _int(frame, "seq", 1),
            _int(frame, "by", 1),
        )


GROUP_EVENTS = ("created", "members_added", "members_removed", "member_left")


@dataclass(frozen=True)
class GroupChange:
    """A `group` frame: who changed a group's membership, and whom it concerns."""

    event: str
    group_id: int
    name: str
    by: int
    user_ids: tuple[int, ...]

    @classmethod
    def from_wire(cls, frame: Mapping[str, Any]) -> GroupChange:
        event = frame.get("event")
        if event not in GROUP_EVENTS:
            raise BadFrame("unknown group event")
        name = frame.get("name")
        return cls(
            str(event),
            _int(frame, "group_id", 1),
            name if isinstance(name, str) else "",
            _int(frame, "by", 1),
            _user_ids(frame, "user_ids"),
        )

    @property
    def ref(self) -> ConversationRef:
        return ConversationRef.group(self.group_id)


# --- what the client sends ----------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outgoing:
    """One line the user sent, to a user or a group; `ack_id` makes a resend after a
    reconnect idempotent."""

    to: int | None
    content: str
    group_id: int | None = None
    conversation_id: str = ""  # where it will belong; filled in by the state
    ack_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    typed_at: datetime = field(default_factory=_now)

    def frame(self) -> str:
        body: dict[str, Any] = {"action": "send", "content": self.content, "ack_id": self.ack_id}
        if self.group_id is not None:
            body["group_id"] = self.group_id
        else:
            body["to"] = self.to
        return json.dumps(body, ensure_ascii=False)


class Outbox:
    """The user's sends in order; the first is the one in flight, and it is settled
    (removed) only by the `ack` or `error` frame that carries its `ack_id`."""

    def __init__(self) -> None:
        self._queue: deque[Outgoing] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def __iter__(self) -> Iterator[Outgoing]:
        return iter(list(self._queue))

    def add(self, outgoing: Outgoing) -> None:
        self._queue.append(outgoing)

    def head(self) -> Outgoing | None:
        return self._queue[0] if self._queue else None

    def settle(self, ack_id: object) -> Outgoing | None:
        """The head if `ack_id` is its own (now removed); else None, nothing changes."""
        if self._queue and ack_id == self._queue[0].ack_id:
            return self._queue.popleft()
        return None


# --- small helpers ------------------------------------------------------------------


def local_time(value: datetime, now: datetime | None = None, zone: tzinfo | None = None) -> str:
    """`14:03:07` today in the local zone; the date too when it is another day."""
    local = value.astimezone(zone)
    today = (now or datetime.now(local.tzinfo)).astimezone(zone).date()
    if local.date() == today:
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def token_user(token: str) -> int | None:
    """The user a JWT names in `sub`, read WITHOUT verifying it: for display only."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return parse_user_id(str(claims["sub"]))
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return None


class SeenIds:
    """Ids of messages already placed, oldest forgotten first past `capacity`.

    A message can arrive twice: pushed on a connection and fetched by history (a gap,
    a reconnect). Bounded, so a client left running for weeks does not grow.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, message_id: str) -> bool:
        """Remember `message_id`; False when it was already there."""
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            return False
        self._ids[message_id] = None
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    try:
        frame = json.loads(raw)
    except ValueError as exc:
        raise BadFrame("frame is not JSON") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadFrame("frame has no type")
    return frame
