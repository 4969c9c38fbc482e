"""One conversation as the client knows it -- pure data, no I/O, no clock.

Messages are kept by `seq` (the server numbers each conversation 1, 2, ...), so they
are shown in seq order whatever order they arrive in. `top` is how far the client has
everything: every seq from the oldest loaded one up to `top` is either here or known to
be missing (a seq can be skipped for good: history never holds it). A message placed
above `top + 1` leaves a gap, which history (`after_seq=top`) fills.

Read receipts: in a 1:1 conversation the peer's read position (`peer_read_seq`, and ids
read out of order); in a group each member's read position, from the members list and
then from `read` frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from clients.terminal.messages import (
    STATUS_READ,
    ChatMessage,
    ConversationInfo,
    ConversationRef,
    HistoryPage,
    Member,
    Preview,
)

# Messages kept per conversation before the oldest are let go (scrolling back
# fetches them again).
KEEP_MAX = 2000


@dataclass
class Reader:
    """A group member as far as receipts go: messages up to `joined_after_seq` (or sent
    before `joined_at`) were sent before they joined and never count as read by them."""

    read_seq: int
    joined_at: datetime | None = None
    joined_after_seq: int = 0

    def has_read(self, message: ChatMessage) -> bool:
        if message.seq <= self.joined_after_seq:
            return False
        if self.joined_at is not None and self.joined_at > message.created_at:
            return False
        return self.read_seq >= message.seq


@dataclass(frozen=True)
class Fetch:
    """One history request: `after_seq` (catching up), `before_seq` (scrolling back)
    or neither (the newest page)."""

    conversation_id: str
    after_seq: int | None = None
    before_seq: int | None = None
    limit: int = 50


@dataclass
class Conversation:
    ref: ConversationRef
    me: int
    name: str = ""  # a group's
    max_seq: int = 0  # the newest seq known to exist
    read_seq: int = 0  # how far this user has read (the server's word)
    unread: int = 0  # as the server counts it, updated by what arrives
    last: Preview | None = None
    last_activity_at: datetime | None = None
    listed: bool = False  # seen in the server's conversation list
    member: bool = True  # False once this user left or was removed (groups)
    blocked: str = ""  # why history cannot be read (a refusal): nothing to sync

    # What is loaded: messages by seq, from `floor` (the oldest loaded) up.
    messages: dict[int, ChatMessage] = field(default_factory=dict)
    seqs_by_id: dict[str, int] = field(default_factory=dict)
    loaded: bool = False  # the first history page is in
    top: int = 0
    floor: int | None = None
    has_older: bool = False
    recalled: set[int] = field(default_factory=set)

    # Receipts.
    peer_read_seq: int = 0
    peer_read_ids: set[str] = field(default_factory=set)
    readers: dict[int, Reader] | None = None  # group members but me; None: not loaded
    read_out_of_order: dict[str, set[int]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def is_group(self) -> bool:
        return self.ref.is_group

    @property
    def peer(self) -> int:
        return self.ref.peer_of(self.me)

    @property
    def title(self) -> str:
        if self.is_group:
            return self.name or self.id
        return f"{self.peer} (you)" if self.peer == self.me else str(self.peer)

    # --- the list -----------------------------------------------------------------------

    def update_from(self, info: ConversationInfo, is_open: bool) -> None:
        """The server's list entry; the newer of what it says and what is known wins."""
        self.listed, self.member = True, True
        if info.name:
            self.name = info.name
        if info.max_seq >= self.max_seq:
            self.last = info.last or self.last
            self.last_activity_at = info.last_activity_at or self.last_activity_at
        self.max_seq = max(self.max_seq, info.max_seq)
        self.read_seq = max(self.read_seq, info.read_seq)
        self.peer_read_seq = max(self.peer_read_seq, info.peer_read_seq)
        self.unread = 0 if is_open else info.unread_count

    # --- placing messages ---------------------------------------------------------------

    def place(self, message: ChatMessage) -> bool:
        """Keep `message` (loaded or pushed); False when it was here already (only a
        recall or a receipt status can change a message that is here)."""
        self.note_activity(message)
        message = self._as_known(message)
        known = self.messages.get(message.seq)
        if known is not None:
            if message.recalled and not known.recalled:
                self.messages[message.seq] = message
                return True
            return False
        if self.floor is None or message.seq < self.floor:
            if self.loaded and self.floor is not None:
                return False  # older than what is loaded: scrolling back fetches it
            self.floor = message.seq
        self.messages[message.seq] = message
        self.seqs_by_id[message.id] = message.seq
        if message.sender == self.me and message.seq == self.read_seq + 1:
            self.read_seq = message.seq  # the server counts your own as read
        self._advance_top()
        return True

    def note_activity(self, message: ChatMessage) -> None:
        """`message` exists: the newest one is what the list shows."""
        if message.seq >= self.max_seq:
            self.max_seq = message.seq
            self.last = Preview.of(message)
            self.last_activity_at = message.created_at

    def _advance_top(self) -> None:
        while self.top + 1 in self.messages:
            self.top += 1

    @property
    def gap(self) -> bool:
        """Whether something between `top` and the newest known seq is not here."""
        return self.loaded and not self.blocked and self.top < self.max_seq

    def merge(self, fetch: Fetch, page: HistoryPage) -> list[ChatMessage]:
        """A history page asked for by `fetch`; the messages that are new here."""
        seqs = [m.seq for m in page.messages]
        new = []
        if fetch.before_seq is not None:  # scrolling back: below the floor on purpose
            for message in page.messages:
                if message.seq not in self.messages:
                    self.messages[message.seq] = self._as_known(message)
                    self.seqs_by_id[message.id] = message.seq
                    new.append(self.messages[message.seq])
            if seqs:
                self.floor = min(seqs[0], self.floor or seqs[0])
            self.has_older = page.has_more
        elif fetch.after_seq is not None:  # every seq above after_seq, ascending
            if not self.loaded:
                self.floor = min(fetch.after_seq + 1, self.floor or fetch.after_seq + 1)
                self.has_older = fetch.after_seq > 0
                self.top = max(self.top, fetch.after_seq)
            new = [m for m in page.messages if self.place(m)]
            if self.top >= fetch.after_seq:
                # Contiguous from after_seq; without more, complete up to max_seq.
                self.top = max(self.top, *seqs, page.max_seq if not page.has_more else 0)
        else:  # the newest page: every seq from its oldest up to max_seq
            if not self.loaded:
                # Empty: whatever comes next (seq max_seq + 1 on) is contiguous.
                self.floor = min(seqs[0], self.floor or seqs[0]) if seqs else page.max_seq + 1
                self.has_older = page.has_more
            new = [m for m in page.messages if self.place(m)]
            if not self.loaded or (seqs and seqs[0] <= self.top + 1):
                self.top = max(self.top, page.max_seq, *seqs)
        self.loaded = True
        self._advance_top()
        self.max_seq = max(self.max_seq, page.max_seq)
        self.read_seq = max(self.read_seq, page.read_seq)
        self.peer_read_seq = max(self.peer_read_seq, page.peer_read_seq)
        return new

    def _as_known(self, message: ChatMessage) -> ChatMessage:
        if message.seq in self.recalled and not message.recalled:
            message = message.recall()
        if message.status == STATUS_READ and message.sender == self.me and not self.is_group:
            self.peer_read_ids.add(message.id)
        return message

    def trim(self) -> list[ChatMessage]:
        """Let the oldest go past KEEP_MAX; what was let go."""
        if len(self.messages) <= KEEP_MAX:
            return []
        dropped = [self.messages[s] for s in sorted(self.messages)[: len(self.messages) - KEEP_MAX]]
        for message in dropped:
            del self.messages[message.seq]
            self.seqs_by_id.pop(message.id, None)
            self.read_out_of_order.pop(message.id, None)
        self.floor = min(self.messages)
        self.has_older = True
        return dropped

    def ordered(self) -> list[ChatMessage]:
        return [self.messages[s] for s in sorted(self.messages)]

    def by_id(self, message_id: str) -> ChatMessage | None:
        seq = self.seqs_by_id.get(message_id)
        return None if seq is None else self.messages.get(seq)

    def last_own(self) -> ChatMessage | None:
        """This user's newest message here that is not recalled."""
        for seq in sorted(self.messages, reverse=True):
            message = self.messages[seq]
            if message.sender == self.me and not message.recalled:
                return message
        return None

    # --- recall -------------------------------------------------------------------------

    def recall(self, seq: int, by: int) -> ChatMessage | None:
        """The message at `seq` was recalled; the recalled message when it is here.
        Counted out of unread when it was someone else's and not read yet."""
        if seq in self.recalled:
            return None
        self.recalled.add(seq)
        if by != self.me and seq > self.read_seq and self.unread > 0:
            self.unread -= 1
        if self.last is not None and self.last.seq == seq:
            self.last = Preview(self.last.id, seq, self.last.sender, "", True, self.last.created_at)
        message = self.messages.get(seq)
        if message is None or message.recalled:
            return None
        self.messages[seq] = message.recall()
        return self.messages[seq]

    # --- receipts -----------------------------------------------------------------------

    def set_members(self, members: Iterable[Member]) -> None:
        self.readers = {
            m.user_id: Reader(m.read_seq, m.joined_at) for m in members if m.user_id != self.me
        }

    def read_by(self, reader: int, read_seq: int, message_ids: Iterable[str]) -> list[str]:
        """`reader` (not this user) read up to `read_seq` and `message_ids`: the ids of
        this user's loaded messages whose receipt changed."""
        before = {m.id: self.receipt(m) for m in self.ordered() if m.sender == self.me}
        ids = set(message_ids)
        if self.is_group:
            if self.readers is not None:
                known = self.readers.setdefault(reader, Reader(0))
                known.read_seq = max(known.read_seq, read_seq)
            for message_id in ids:
                self.read_out_of_order.setdefault(message_id, set()).add(reader)
        else:
            self.peer_read_seq = max(self.peer_read_seq, read_seq)
            self.peer_read_ids |= ids
        return [i for i, mark in before.items() if self.receipt_of(i) != mark]

    def read_myself(self, read_seq: int) -> None:
        """This user read up to `read_seq` (here or on another device)."""
        if read_seq <= self.read_seq:
            return
        self.read_seq = read_seq
        self.unread = 0 if read_seq >= self.max_seq else min(self.unread, self.max_seq - read_seq)

    def receipt_of(self, message_id: str) -> int | None:
        message = self.by_id(message_id)
        return None if message is None else self.receipt(message)

    def receipt(self, message: ChatMessage) -> int:
        """For this user's message: 1:1, 1 when the peer read it, else 0; group, how
        many members have read it (0 while the members are unknown)."""
        if not self.is_group:
            seen = message.seq <= self.peer_read_seq or message.id in self.peer_read_ids
            return int(seen)
        out_of_order = self.read_out_of_order.get(message.id, set())
        in_order = {u for u, r in (self.readers or {}).items() if r.has_read(message)}
        return len(in_order | out_of_order)

    def members_changed(self, added: Iterable[int], removed: Iterable[int]) -> None:
        if self.readers is None:
            return
        for user in added:
            if user != self.me:
                # Joined now: what is here was sent before, so it does not count.
                self.readers.setdefault(user, Reader(0, joined_after_seq=self.max_seq))
        for user in removed:
            self.readers.pop(user, None)
