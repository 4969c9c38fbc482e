"""The conversation data model, as plain values: no I/O, no wire format.

- A conversation is a 1:1 pair (`d:<low>:<high>`) or a group (`g:<group id>`).
- Every message of a conversation gets the next sequence number (`seq`, from 1) when it
  is stored. `created_at` never decreases along `seq`, so seq order is time order.
- A member's read position is a `ReadState`: everything up to `read_seq` is read, plus
  the seqs in `extra` above it (messages read out of order, the member's own messages,
  recalled ones -- anything that must not count as unread). The unread count of a
  conversation is `max_seq - read_seq - len(extra)`: constant time, whatever its size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Generic, NamedTuple, TypeVar

from chalicelib.errors import BadRequest

USER_ID_MAX = 2**63 - 1
GROUP_ID_MAX = 2**53 - 1  # exact in JavaScript numbers too
# A read state keeps at most this many out-of-order seqs; past it, the oldest are
# folded into read_seq (the member has read at least that far in practice).
EXTRA_MAX = 2000


class Kind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class MessageState(IntEnum):
    """Stored message state; read state is per member, never on the message."""

    ACTIVE = 0
    RECALLED = 2
    # A sequence number that was taken but holds no message (a send that turned out
    # to be a retry): invisible everywhere, never unread.
    VOID = 3


class Role(StrEnum):
    OWNER = "owner"
    MEMBER = "member"


_CONVERSATION = re.compile(r"d:([1-9][0-9]{0,18}):([1-9][0-9]{0,18})|g:([1-9][0-9]{0,15})")
# The same grammar as a JSON Schema `pattern` (anchored; what docs/openapi.yaml states).
CONVERSATION_PATTERN = f"^(?:{_CONVERSATION.pattern})$"


@dataclass(frozen=True, order=True)
class ConversationId:
    kind: Kind
    low: int = 0  # direct: the two user ids, low <= high
    high: int = 0
    group_id: int = 0

    @classmethod
    def direct(cls, a: int, b: int) -> ConversationId:
        return cls(Kind.DIRECT, low=min(a, b), high=max(a, b))

    @classmethod
    def group(cls, group_id: int) -> ConversationId:
        return cls(Kind.GROUP, group_id=group_id)

    @classmethod
    def parse(cls, text: str) -> ConversationId:
        match = _CONVERSATION.fullmatch(text)
        if match is None:
            raise BadRequest("conversation_id is d:<user>:<user> or g:<group id>")
        if match.group(3) is not None:
            group_id = int(match.group(3))
            if group_id > GROUP_ID_MAX:
                raise BadRequest("conversation_id names no group")
            return cls.group(group_id)
        low, high = int(match.group(1)), int(match.group(2))
        if low > high or high > USER_ID_MAX:
            raise BadRequest("conversation_id is d:<lower user id>:<higher user id>")
        return cls.direct(low, high)

    def __str__(self) -> str:
        if self.kind is Kind.GROUP:
            return f"g:{self.group_id}"
        return f"d:{self.low}:{self.high}"

    @property
    def is_group(self) -> bool:
        return self.kind is Kind.GROUP

    def participants(self) -> tuple[int, ...]:
        """The two users of a 1:1 conversation (one, for a note to self)."""
        if self.is_group:
            raise ValueError("a group's members are stored, not implied by its id")
        return (self.low,) if self.low == self.high else (self.low, self.high)

    def includes(self, user: int) -> bool:
        """For 1:1 conversations only: whether `user` is one of the pair."""
        return not self.is_group and user in (self.low, self.high)

    def peer_of(self, user: int) -> int:
        return self.high if user == self.low else self.low


class Identity(NamedTuple):
    """A registered connection: its user, its token's expiry and issue time (epoch s)."""

    user: int
    expires_at: float
    issued_at: float | None = None


@dataclass(frozen=True)
class Draft:
    """A message to append: who writes what where; the store adds seq and times."""

    conversation: ConversationId
    sender: int
    content: str
    ack_id: str
    msg_type: int = 1


@dataclass(frozen=True)
class StoredMessage:
    id: str
    conversation: ConversationId
    seq: int
    sender: int
    content: str
    msg_type: int
    ack_id: str
    state: MessageState
    created_at: datetime
    updated_at: datetime

    @property
    def to(self) -> int:
        """The v1 `to`: the 1:1 recipient, 0 for a group message."""
        c = self.conversation
        return 0 if c.is_group else c.peer_of(self.sender)

    @property
    def group_id(self) -> int:
        return self.conversation.group_id

    @property
    def recalled(self) -> bool:
        return self.state is MessageState.RECALLED


@dataclass(frozen=True)
class Appended:
    message: StoredMessage
    duplicate: bool
    # Who the message is for: both users of a pair, every member of a group as the
    # store saw them when it numbered the message.
    members: tuple[int, ...] = ()


@dataclass(frozen=True)
class ReadState:
    read_seq: int = 0
    extra: tuple[int, ...] = ()  # sorted, all > read_seq
    # No message above read_seq is older than this (None: unknown). Lets a query for
    # unread messages start its index scan there instead of at the first message.
    read_at: datetime | None = None

    def has_read(self, seq: int) -> bool:
        return seq <= self.read_seq or seq in self.extra

    def unread_count(self, max_seq: int) -> int:
        above = sum(1 for s in self.extra if self.read_seq < s <= max_seq)
        return max(0, max_seq - self.read_seq - above)

    def with_read(
        self, seqs: Iterable[int], times: Mapping[int, datetime] | None = None
    ) -> ReadState:
        """Also read `seqs` (in any order). `times` maps seqs to their created_at, so
        the position can remember how old the first unread message can be."""
        merged = set(self.extra).union(s for s in seqs if s > self.read_seq)
        return _settled(self.read_seq, merged, self.read_at, times or {})

    def up_to(self, seq: int, times: Mapping[int, datetime] | None = None) -> ReadState:
        """Everything up to `seq` read."""
        if seq <= self.read_seq:
            return self
        return _settled(seq, set(self.extra), self.read_at, times or {})

    def settled(self) -> ReadState:
        """The same position written canonically (contiguous reads folded in)."""
        return _settled(self.read_seq, set(self.extra), self.read_at, {})

    def newly_read(self, before: ReadState, seqs: Iterable[int]) -> list[int]:
        """Which of `seqs` this state reads that `before` did not."""
        return sorted(s for s in set(seqs) if self.has_read(s) and not before.has_read(s))


def _settled(
    read_seq: int, extra: set[int], read_at: datetime | None, times: Mapping[int, datetime]
) -> ReadState:
    rest = sorted(s for s in extra if s > read_seq)
    if len(rest) > EXTRA_MAX:  # fold the oldest into the position: it stays bounded
        read_seq, rest = rest[-EXTRA_MAX - 1], rest[-EXTRA_MAX:]
    while rest and rest[0] == read_seq + 1:  # contiguous reads join the position
        read_seq = rest.pop(0)
    # created_at never decreases along seq: any message at or below the position is a
    # lower bound for the messages above it.
    known = [t for s, t in times.items() if s <= read_seq]
    if known and (read_at is None or max(known) > read_at):
        read_at = max(known)
    return ReadState(read_seq, tuple(rest), read_at)


@dataclass(frozen=True)
class Membership:
    """One member of one conversation, with their read position."""

    conversation: ConversationId
    user: int
    role: Role = Role.MEMBER
    read: ReadState = field(default_factory=ReadState)
    joined_seq: int = 0  # messages up to it were sent before the member joined
    joined_at: datetime | None = None
    max_seq: int = 0
    last_at: datetime | None = None
    peer_read_seq: int = 0  # 1:1 only: how far the other user has read
    name: str = ""  # groups: the group's name

    def sees(self, seq: int) -> bool:
        return seq > self.joined_seq

    def unread_count(self) -> int:
        return self.read.unread_count(self.max_seq)

    def reading(self, read: ReadState) -> Membership:
        return replace(self, read=read)


@dataclass(frozen=True)
class Group:
    group_id: int
    name: str
    owner: int
    members: tuple[int, ...]  # in the order they joined
    created_at: datetime
    max_seq: int = 0
    version: int = 0  # bumped by every membership change (compare-and-set)

    @property
    def conversation(self) -> ConversationId:
        return ConversationId.group(self.group_id)


@dataclass(frozen=True)
class Preview:
    """The last message of a conversation, as a conversation list shows it."""

    message_id: str
    seq: int
    sender: int
    msg_type: int
    state: MessageState
    content: str  # at most PREVIEW_CHARS
    truncated: bool
    created_at: datetime


PREVIEW_CHARS = 200


def preview_of(message: StoredMessage) -> Preview:
    content = "" if message.recalled else message.content
    return Preview(
        message_id=message.id,
        seq=message.seq,
        sender=message.sender,
        msg_type=message.msg_type,
        state=message.state,
        content=content[:PREVIEW_CHARS],
        truncated=len(content) > PREVIEW_CHARS,
        created_at=message.created_at,
    )


@dataclass(frozen=True)
class ConversationSummary:
    membership: Membership
    last: Preview | None


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
