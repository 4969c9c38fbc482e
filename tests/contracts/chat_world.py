"""A chat service wired for tests: real use cases and delivery, a store, a presence and
a limiter given by the tier (fakes in tests/unit, MongoDB and Redis in
tests/integration), and a recording @connections API standing in for API Gateway."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from chalicelib.chat.domain import Appended, ConversationId
from chalicelib.chat.ports import ChatStore, Presence, RateLimiter
from chalicelib.chat.sending import SendCommand
from chalicelib.chat.service import Chat, Policy
from chalicelib.delivery import ConnectionsDelivery
from chalicelib.push import Pusher
from tests.clocks import ManualTime
from tests.fakes.connections import RecordingConnections

Frame = dict[str, Any]


def new_user() -> int:
    return uuid.uuid4().int >> 66


@dataclass
class World:
    store: ChatStore
    presence: Presence
    limiter: RateLimiter
    clock: ManualTime
    policy: Policy = field(default_factory=Policy)
    api: RecordingConnections = field(default_factory=RecordingConnections)

    def __post_init__(self) -> None:
        self.delivery = ConnectionsDelivery(self.presence, Pusher(self.api, 8))
        self.chat = Chat(self.store, self.delivery, self.limiter, self.clock, self.policy)
        self.acks: list[tuple[str | None, Appended]] = []

    def connect(self, user: int) -> str:
        connection = uuid.uuid4().hex[:15] + "="
        self.presence.add(connection, user)
        return connection

    def send(
        self,
        sender: int,
        text: str = "hi",
        *,
        to: int | None = None,
        group: int | None = None,
        via: str | None = None,
        ack_id: str | None = None,
    ) -> Appended:
        command = SendCommand(
            sender=sender,
            to=to,
            group_id=group,
            content=text,
            msg_type=1,
            ack_id=ack_id or uuid.uuid4().hex,
            connection_id=via,
        )

        def acknowledge(appended: Appended, _last: bool) -> None:
            # In the same journal as the posts, to check what came first.
            self.api.journal.append((via or "", {"type": "ack", "seq": appended.message.seq}))
            self.acks.append((via, appended))

        return self.chat.send(command, acknowledge)

    def frames(self, connection: str, kind: str | None = None) -> list[Frame]:
        return self.api.frames(connection, kind)

    def contents(self, connection: str) -> list[str]:
        return [f["message"]["content"] for f in self.frames(connection, "message")]


def direct(a: int, b: int) -> ConversationId:
    return ConversationId.direct(a, b)
