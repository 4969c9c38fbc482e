"""What the use cases need from the outside world, as Protocols.

The real adapters are chalicelib/store.py (MongoDB), presence.py and ratelimit.py
(Redis) and delivery.py (API Gateway's @connections); bootstrap.py wires them. Tests
run the same use-case suite against in-memory fakes (tests/fakes) and the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from chalicelib.chat.domain import (
    Appended,
    ConversationId,
    ConversationSummary,
    Draft,
    Group,
    Identity,
    Membership,
    ReadState,
    StoredMessage,
)


@dataclass(frozen=True)
class UnreadCursor:
    """Keyset position in a user's unread messages: (created_at, message id)."""

    created_at: datetime
    message_id: str


@dataclass(frozen=True)
class ListCursor:
    """Keyset position in a user's conversation list: (last activity, conversation)."""

    last_at: datetime
    conversation: str


class MessageLog(Protocol):
    """Messages, numbered per conversation."""

    def append(self, draft: Draft) -> Appended:
        """Number and store `draft` -- or, for a (sender, ack_id) already stored, return
        that first message with `duplicate=True`. For a 1:1 message, members' read
        positions and conversation lists are updated before this returns; a group's
        (one document per member) are left to `fan_out`, called after the sender has
        been acknowledged. Raises NotFound for an unknown group, Forbidden when the
        sender is not a member."""
        ...

    def fan_out(self, message: StoredMessage) -> None:
        """Bring every member's copy (max_seq, activity, preview) and the sender's read
        position up to `message`. Idempotent; a lagging copy is healed by the next."""
        ...

    def message(self, message_id: str) -> StoredMessage | None: ...

    def messages(self, message_ids: Sequence[str]) -> list[StoredMessage]: ...

    def recall(self, message: StoredMessage, at: datetime) -> StoredMessage | None:
        """Recall an active message (content removed, out of every unread count);
        None when it is no longer active."""
        ...

    def history(
        self,
        conversation: ConversationId,
        *,
        floor: int,
        after: int | None,
        before: int | None,
        limit: int,
    ) -> list[StoredMessage]:
        """Up to `limit` messages with floor < seq, after `after` (oldest first) or
        before `before` (newest first), recalled ones included."""
        ...

    def unread(
        self, user: int, memberships: Sequence[Membership], limit: int, cursor: UnreadCursor | None
    ) -> list[StoredMessage]:
        """The oldest `limit` active messages of `memberships` that the member has not
        read and did not send, ordered by (created_at, id), after `cursor`."""
        ...


class ReadStates(Protocol):
    """Members of conversations, with their read positions and conversation lists."""

    def membership(self, conversation: ConversationId, user: int) -> Membership | None: ...

    def memberships(self, conversation: ConversationId) -> list[Membership]: ...

    def memberships_of(self, user: int) -> list[Membership]: ...

    def change_read(
        self,
        conversation: ConversationId,
        user: int,
        change: Callable[[ReadState], ReadState],
    ) -> tuple[ReadState, ReadState] | None:
        """Apply `change` atomically (retried on a concurrent change); (before, after),
        or None when `user` is not a member."""
        ...

    def note_peer_read(self, conversation: ConversationId, peer: int, read_seq: int) -> None:
        """1:1: the other user has read up to `read_seq` (shown to `peer`)."""
        ...

    def conversations(
        self, user: int, limit: int, cursor: ListCursor | None
    ) -> tuple[list[ConversationSummary], ListCursor | None]:
        """The user's conversations, most recent activity first."""
        ...


class Groups(Protocol):
    def create_group(self, group: Group) -> bool:
        """Store a new group and its members; False if the id is taken."""
        ...

    def group(self, group_id: int) -> Group | None: ...

    def groups(self, group_ids: Iterable[int]) -> list[Group]: ...

    def change_members(
        self, group: Group, members: tuple[int, ...], owner: int, at: datetime
    ) -> Group | None:
        """Replace the member list and owner if `group` is still the current version;
        None if another change came first (read it again and retry)."""
        ...


class ChatStore(MessageLog, ReadStates, Groups, Protocol):
    """Everything the chat service stores (one MongoDB database, or a fake)."""


class Presence(Protocol):
    def add(
        self,
        connection_id: str,
        user_id: int,
        expires_at: float | None = None,
        max_connections: int = 0,
        issued_at: float | None = None,
    ) -> None:
        """Register or renew; raise TooManyConnections past `max_connections` live ones,
        Unauthorized for a token issued before the user's sessions were revoked."""
        ...

    def revoke(self, user_id: int, keep_seconds: int) -> list[str]:
        """End the user's sessions; their live connections, to close."""
        ...

    def identity(self, connection_id: str) -> Identity | None:
        """Who a registered connection is, expired or not."""
        ...

    def user_of(self, connection_id: str) -> int | None: ...

    def connections_of_many(self, user_ids: Iterable[int]) -> dict[int, list[str]]: ...

    def remove(self, connection_id: str, user_id: int | None = None) -> int | None: ...

    def remove_many(self, connections: Iterable[tuple[str, int]]) -> None: ...


class RateLimiter(Protocol):
    def hit(self, user_id: int, cost: int = 1) -> None:
        """Spend `cost`; raise RateLimited (with retry_after_ms) when over the limit."""
        ...

    def charge(self, user_id: int, cost: int) -> None:
        """Spend `cost` for what was already served; never refuses."""
        ...


@dataclass(frozen=True)
class Audience:
    """Live connections to tell something, by user."""

    connections: dict[int, list[str]]

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.connections.values())

    def only(self, users: Iterable[int]) -> Audience:
        wanted = set(users)
        return Audience({u: c for u, c in self.connections.items() if u in wanted})


class Delivery(Protocol):
    """Frames to users' live connections (API Gateway's @connections)."""

    def audience(self, users: Iterable[int], exclude: str | None = None) -> Audience:
        """Who is online among `users` (minus the `exclude` connection). Empty, never an
        error, when presence is unavailable: what is not pushed stays unread."""
        ...

    def push(self, audience: Audience, frame: BaseModel) -> int:
        """Send `frame` to every connection; returns how many got it."""
        ...

    def reply(self, connection_id: str, frame: BaseModel | dict[str, Any]) -> None:
        """Answer the connection a frame came from."""
        ...

    def disconnect(self, connection_id: str) -> None:
        """Close a connection (its session ended) and forget it."""
        ...


Clock = Callable[[], datetime]
