"""The WebSocket `$default` route: send, ping, read, recall. Each action parses its
frame, calls one use case (chalicelib/chat) and encodes the answer; the rules live in
the use cases. (`$connect` and `$disconnect` are handlers/connection.py.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.chat.domain import Appended, ConversationId
from chalicelib.chat.recall import recalled_frame
from chalicelib.chat.sending import SendCommand
from chalicelib.chat.service import Chat
from chalicelib.clock import epoch_datetime
from chalicelib.delivery import Frame, encode
from chalicelib.deps import Services
from chalicelib.errors import Forbidden, error_frame
from chalicelib.models.frames import (
    AckFrame,
    AuthenticatedFrame,
    AuthFrame,
    DoneFrame,
    PingFrame,
    PongFrame,
    ReadFrame,
    RecallFrame,
    SendFrame,
)
from chalicelib.observability import count, refusal
from chalicelib.sessions import SessionExpired
from chalicelib.validation import parse_client_frame, recover_ids

_ACCEPT = {"statusCode": 200}


@dataclass
class Invocation:
    """One `$default` event: who sent it on which connection, and how to answer.

    With route responses on (IM_ACK_ROUTE_RESPONSE, set where the deploy creates the
    `$default` route response), the answer -- ack, pong or error -- is the Lambda's
    return value, which API Gateway sends to the connection: one post fewer per frame.
    Otherwise, and for an ack that must go out before more work, it is posted.
    """

    services: Services
    connection_id: str
    endpoint: str
    answer: Frame | None = None

    def user(self) -> int:
        return self.services.sessions.who(self.connection_id)

    @functools.cached_property
    def chat(self) -> Chat:
        return self.services.chat(self.endpoint)

    def reply(self, frame: Frame, last: bool = True) -> None:
        if last and self.answer is None and self.services.settings.ack_route_response:
            self.answer = frame
            return
        count("AnswersPosted")
        self.services.delivery(self.endpoint).reply(self.connection_id, frame)

    def acknowledge(self, appended: Appended, last: bool) -> None:
        self.reply(AckFrame.of(appended.message, appended.duplicate), last)

    def result(self, action: str | None, request_id: str | None) -> dict[str, Any]:
        if not self.services.settings.ack_route_response:
            return _ACCEPT
        # A two-way route sends whatever the Lambda returns, an absent body as an empty
        # frame: a frame with nothing else to say is answered `done`.
        answer = self.answer or DoneFrame(action=action or "", request_id=request_id)
        count("AnswersReturned")
        return {"statusCode": 200, "body": encode(answer).decode()}


def on_message(event: Any, services: Services) -> dict[str, Any]:
    raw = event.to_dict()
    context = raw["requestContext"]
    endpoint = services.management_endpoint(context["apiId"], context["stage"])
    invocation = Invocation(services, event.connection_id, endpoint)
    body = raw.get("body")
    frame: Any = None
    try:
        frame = parse_client_frame(body)
        _ACTIONS[frame.action](invocation, frame)
    except Exception as exc:
        count("FramesRefused")
        ack_id, request_id = recover_ids(body)
        expired = isinstance(exc, SessionExpired)
        # An expired session is told why, then closed: posted, as the close comes
        # before any return value could be delivered.
        invocation.reply(error_frame(refusal(exc), ack_id, request_id), last=not expired)
        if expired:
            services.delivery(endpoint).disconnect(event.connection_id)
            services.sessions.forget(event.connection_id)
    action = getattr(frame, "action", None)
    return invocation.result(action, getattr(frame, "request_id", None))


def _send(invocation: Invocation, frame: SendFrame) -> None:
    command = SendCommand(
        sender=invocation.user(),
        to=None if frame.group else frame.to,
        group_id=frame.group,
        content=frame.content,
        msg_type=frame.msg_type,
        ack_id=frame.ack_id,
        connection_id=invocation.connection_id,
    )
    invocation.chat.send(command, invocation.acknowledge)


def _ping(invocation: Invocation, _frame: PingFrame) -> None:
    # Every keep-alive renews the presence entry (until the token's expiry): if Redis
    # lost it, pushes resume within one ping interval, nobody reconnecting.
    invocation.services.sessions.renew(invocation.connection_id)
    invocation.reply(PongFrame())


def _read(invocation: Invocation, frame: ReadFrame) -> None:
    """No answer on success (as v1; `done` on a two-way route); the reader's other
    devices and the senders get `read` receipts."""
    user = invocation.user()
    invocation.services.rate_limiter.hit(user)
    if frame.message_ids is not None:
        invocation.chat.mark_read(user, frame.message_ids, invocation.connection_id)
        return
    assert frame.conversation_id is not None  # the model requires one of the two
    conversation = ConversationId.parse(frame.conversation_id)
    invocation.chat.mark_conversation_read(user, conversation, frame.seq, invocation.connection_id)


def _auth(invocation: Invocation, frame: AuthFrame) -> None:
    """A fresh token for this connection: renews its session (before the old token
    expires, or after presence lost it) without reconnecting."""
    services = invocation.services
    verified = services.verifier.verify(frame.token)
    services.rate_limiter.hit(verified.user)
    known = services.presence.identity(invocation.connection_id)
    if known is not None and known.user != verified.user:
        raise Forbidden("a connection cannot change its user; reconnect instead")
    services.sessions.bind(
        invocation.connection_id, verified.user, verified.expires_at, verified.issued_at
    )
    invocation.reply(
        AuthenticatedFrame(user_id=verified.user, expires_at=epoch_datetime(verified.expires_at))
    )


def _recall(invocation: Invocation, frame: RecallFrame) -> None:
    """Answered by the `recalled` frame every member's connections get -- this one also
    when it asks again for a message already recalled (nobody else is told again)."""
    user = invocation.user()
    invocation.services.rate_limiter.hit(user)
    recalled = invocation.chat.recall(user, frame.message_id, invocation.connection_id)
    invocation.reply(recalled_frame(recalled))


_ACTIONS: dict[str, Callable[[Invocation, Any], None]] = {
    "send": _send,
    "ping": _ping,
    "read": _read,
    "recall": _recall,
    "auth": _auth,
}
