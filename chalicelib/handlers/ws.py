"""WebSocket routes: `$connect` (authenticate, register), `$default` (send, ping, read),
`$disconnect` (unregister).

Send is: validate -> rate limit -> store durably -> push to the recipient's live
connections -> ack the sender. Pushing *before* acking is what gives the contract's
ordering: a client that waits for each ack has each message delivered before the next
one is even sent. A store failure answers `error`/`unavailable`, never an ack; a push
failure never loses the message, which is stored and stays unread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from chalicelib.auth import connect_token
from chalicelib.deps import Services
from chalicelib.errors import Forbidden, ImError, Unauthorized, error_frame
from chalicelib.models import (
    AckFrame,
    Message,
    MessageFrame,
    PingFrame,
    PongFrame,
    ReadFrame,
    SendFrame,
)
from chalicelib.observability import count, logger, refusal
from chalicelib.push import Pusher
from chalicelib.store import NewMessage
from chalicelib.validation import parse_client_frame, recover_ack_id

_ACCEPT = {"statusCode": 200}


def encode(frame: BaseModel | dict[str, Any]) -> bytes:
    if isinstance(frame, MessageFrame):
        data: dict[str, Any] = frame.wire()
    elif isinstance(frame, BaseModel):
        data = frame.model_dump()
    else:
        data = frame
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Invocation:
    """One `$default` event: who sent it on which connection, and how to answer."""

    services: Services
    connection_id: str
    pusher: Pusher

    def user(self) -> int:
        user = self.services.connection_user(self.connection_id)
        if user is None:  # presence expired or was lost: identity cannot be proven
            raise Forbidden("this connection is not signed in; reconnect with a token")
        return user

    def reply(self, frame: BaseModel | dict[str, Any]) -> None:
        if self.pusher.send(self.connection_id, encode(frame)) == "gone":
            self.services.presence.remove(self.connection_id)


def on_connect(event: Any, services: Services) -> dict[str, Any]:
    raw = event.to_dict()
    token = connect_token(raw.get("queryStringParameters"), raw.get("headers"))
    try:
        if token is None:
            raise Unauthorized("missing token")
        user = services.verifier.user_of(token)
    except Unauthorized as err:
        count("AuthFailures")
        logger.info("connect refused", extra={"reason": err.message})
        return {"statusCode": 401}
    try:
        services.presence.add(event.connection_id, user)
    except ImError as err:
        logger.warning("connect failed", extra={"code": err.code})
        return {"statusCode": err.status}
    services.remember_connection(event.connection_id, user)
    count("Connections")
    logger.info("connected", extra={"user_id": user})
    return _ACCEPT


def on_disconnect(event: Any, services: Services) -> dict[str, Any]:
    services.forget_connection(event.connection_id)
    try:
        services.presence.remove(event.connection_id)
    except ImError as err:  # best-effort, like $disconnect itself: the entry expires
        logger.warning("disconnect cleanup failed", extra={"code": err.code})
    return _ACCEPT


def on_message(event: Any, services: Services) -> dict[str, Any]:
    raw = event.to_dict()
    context = raw["requestContext"]
    endpoint = services.management_endpoint(context["apiId"], context["stage"])
    invocation = Invocation(services, event.connection_id, services.pusher(endpoint))
    body = raw.get("body")
    try:
        frame = parse_client_frame(body)
        _ACTIONS[frame.action](invocation, frame)
    except Exception as exc:
        count("FramesRefused")
        invocation.reply(error_frame(refusal(exc), recover_ack_id(body)))
    return _ACCEPT


def _send(invocation: Invocation, frame: SendFrame) -> None:
    services = invocation.services
    sender = invocation.user()
    services.rate_limiter.hit(sender)
    assert frame.to is not None  # the model requires it
    result = services.store.save(
        NewMessage(
            sender=sender,
            to=frame.to,
            content=frame.content,
            ack_id=frame.ack_id,
            msg_type=frame.msg_type,
        )
    )
    if result.duplicate:
        # The first attempt pushed it (or it is waiting as unread): never deliver twice.
        count("MessagesDuplicate")
    else:
        count("MessagesStored")
        deliver(services, invocation.pusher, result.message)
    message = result.message
    invocation.reply(
        AckFrame(
            ack_id=message.ack_id,
            message_id=message.id,
            created_at=message.created_at,
            duplicate=result.duplicate,
        )
    )


def deliver(services: Services, pusher: Pusher, message: Message) -> None:
    """Push a stored message to each live connection of its recipient; prune dead ones."""
    try:
        connections = services.presence.connections_of(message.to)
    except ImError:
        logger.warning("presence unavailable; message stays unread")
        count("PushSkipped")
        return
    if not connections:
        return
    outcome = pusher.push(connections, encode(MessageFrame(message=message)))
    for connection_id in outcome.gone:
        try:
            services.presence.remove(connection_id, user_id=message.to)
        except ImError:
            logger.warning("could not prune stale connection")
    count("MessagesPushed", len(outcome.delivered))
    count("StaleConnectionsPruned", len(outcome.gone))
    count("PushFailures", len(outcome.failed))


def _ping(invocation: Invocation, _frame: PingFrame) -> None:
    # Re-register on every keep-alive: if presence lost this connection (a Redis
    # failover without persistence, a wrongly pruned entry) pushes resume within one
    # ping interval, without every client reconnecting at once.
    invocation.services.presence.add(invocation.connection_id, invocation.user())
    invocation.reply(PongFrame())


def _read(invocation: Invocation, frame: ReadFrame) -> None:
    updated = invocation.services.store.mark_read(invocation.user(), frame.message_ids)
    count("MessagesMarkedRead", updated)


_ACTIONS: dict[str, Callable[[Invocation, Any], None]] = {
    "send": _send,
    "ping": _ping,
    "read": _read,
}
