"""What the client holds: received messages, its own sends, and the ids already shown.

Pure data and functions, no I/O: the wire shapes of contract.md section 4 parsed into
small frozen types, local-time formatting, and the bounded set of shown message ids
that keeps a message from being shown twice (realtime push and unread overlap).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

USER_ID_MAX = 2**63 - 1
CONTENT_MAX_CHARS = 8000
MARK_READ_BATCH = 1000


class BadFrame(ValueError):
    """A server frame or message object that does not have the contract's shape."""


def parse_user_id(text: str) -> int:
    """A user id typed by a person: a decimal in 1 .. 2^63-1."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= USER_ID_MAX:
        raise ValueError("a user id is a whole number from 1 to 2^63-1")
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


@dataclass(frozen=True)
class ChatMessage:
    id: str
    sender: int
    to: int
    content: str
    created_at: datetime

    @classmethod
    def from_wire(cls, data: object) -> ChatMessage:
        if not isinstance(data, Mapping):
            raise BadFrame("message is not an object")
        try:
            message_id, sender, to = data["id"], data["from"], data["to"]
            content, created_at = data["content"], data["created_at"]
            if not (isinstance(message_id, str) and message_id and isinstance(content, str)):
                raise BadFrame("message id or content is not a string")
            if type(sender) is not int or type(to) is not int:
                raise BadFrame("message sender or recipient is not an integer")
            return cls(message_id, sender, to, content, parse_timestamp(str(created_at)))
        except (KeyError, ValueError) as exc:
            raise BadFrame(f"malformed message: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class Outgoing:
    """One line the user sent; `ack_id` makes a resend after a reconnect idempotent."""

    to: int
    content: str
    ack_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def frame(self) -> str:
        body = {"action": "send", "to": self.to, "content": self.content, "ack_id": self.ack_id}
        return json.dumps(body, ensure_ascii=False)


@dataclass(frozen=True)
class Ack:
    """The server's word that a send is stored: its id and the server's time."""

    message_id: str
    created_at: datetime | None
    duplicate: bool

    @classmethod
    def from_wire(cls, frame: Mapping[str, Any]) -> Ack:
        try:
            created_at = parse_timestamp(str(frame.get("created_at")))
        except ValueError:
            created_at = None  # still acknowledged; the time is only for display
        return cls(str(frame.get("message_id", "")), created_at, frame.get("duplicate") is True)


class Outbox:
    """The user's sends in order; the first is the one in flight, and it is settled
    (removed) only by the `ack` or `error` frame that carries its `ack_id`."""

    def __init__(self) -> None:
        self._queue: deque[Outgoing] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, outgoing: Outgoing) -> None:
        self._queue.append(outgoing)

    def head(self) -> Outgoing | None:
        return self._queue[0] if self._queue else None

    def settle(self, ack_id: object) -> Outgoing | None:
        """The head if `ack_id` is its own (now removed); else None, nothing changes."""
        if self._queue and ack_id == self._queue[0].ack_id:
            return self._queue.popleft()
        return None


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
    """Ids of messages already shown, oldest forgotten first past `capacity`.

    A message can arrive twice: pushed on a connection and then listed as unread
    before its mark-read landed. Bounded, so a client left running for weeks does
    not grow; the window only has to cover messages not yet marked read.
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


def batches(ids: Iterable[str], size: int = MARK_READ_BATCH) -> list[list[str]]:
    """`ids` in order, without repeats, in lists of at most `size` (mark-read's limit)."""
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    try:
        frame = json.loads(raw)
    except ValueError as exc:
        raise BadFrame("frame is not JSON") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadFrame("frame has no type")
    return frame
