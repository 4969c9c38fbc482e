"""Delivery: frames to users' live connections, independent of any WebSocket event.

`audience(users)` is one presence lookup for all of them (one Redis round trip, or one
per cluster node); `push` posts to every connection concurrently (bounded, pusher.py),
prunes each connection API Gateway answers 410 Gone for, and counts what happened. A
presence outage means no push, never an error: what is not pushed is stored and
unread, and clients find it over REST. REST Lambdas deliver too, given the management
endpoint in configuration; without one (`NoDelivery`) they only store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from chalicelib.chat.ports import Audience, Presence
from chalicelib.errors import ImError
from chalicelib.models.frames import ServerFrame
from chalicelib.observability import count, logger
from chalicelib.push import Pusher

# Metric per kind of frame (MessagesPushed is the v1 name operators already watch).
_PUSHED_METRIC = {
    "message": "MessagesPushed",
    "read": "ReceiptsPushed",
    "recalled": "RecallsPushed",
    "group": "GroupEventsPushed",
}


Frame = BaseModel | dict[str, Any]


def encode(frame: Frame) -> bytes:
    data = frame.wire() if isinstance(frame, ServerFrame) else frame
    if isinstance(data, BaseModel):
        data = data.model_dump(by_alias=True)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class ConnectionsDelivery:
    def __init__(self, presence: Presence, pusher: Pusher, max_fanout: int = 0) -> None:
        self._presence = presence
        self._pusher = pusher
        self._max_fanout = max_fanout  # posts per push at most (0: no cap)

    def audience(self, users: Iterable[int], exclude: str | None = None) -> Audience:
        try:
            found = self._presence.connections_of_many(users)
        except ImError:
            logger.warning("presence unavailable; not pushing (it stays unread)")
            count("PushSkipped")
            return Audience({})
        if exclude is not None:
            found = {u: [c for c in cs if c != exclude] for u, cs in found.items()}
        return Audience({u: cs for u, cs in found.items() if cs})

    def push(self, audience: Audience, frame: BaseModel) -> int:
        owner = {c: u for u, cs in audience.connections.items() for c in cs}
        if not owner:
            return 0
        if self._max_fanout and len(owner) > self._max_fanout:
            # Every user's first connection before anyone's second; the rest find the
            # message in unread and history.
            ranked = sorted(owner, key=lambda c: audience.connections[owner[c]].index(c))
            owner = {c: owner[c] for c in ranked[: self._max_fanout]}
            count("FanoutTruncated")
        outcome = self._pusher.push(list(owner), encode(frame))
        if outcome.gone:
            try:
                self._presence.remove_many((c, owner[c]) for c in outcome.gone)
            except ImError:
                logger.warning("could not prune stale connections")
        kind = getattr(frame, "type", "frame")
        count(_PUSHED_METRIC.get(kind, "FramesPushed"), len(outcome.delivered))
        count("StaleConnectionsPruned", len(outcome.gone))
        count("PushFailures", len(outcome.failed))
        return len(outcome.delivered)

    def reply(self, connection_id: str, frame: Frame) -> None:
        if self._pusher.send(connection_id, encode(frame)) == "gone":
            try:
                self._presence.remove(connection_id)
            except ImError:
                logger.warning("could not prune stale connection")

    def disconnect(self, connection_id: str) -> None:
        self._pusher.close(connection_id)
        try:
            self._presence.remove(connection_id)
        except ImError:
            logger.warning("could not forget a closed connection")


class NoDelivery:
    """No management endpoint is configured: nothing can be pushed from here."""

    def audience(self, users: Iterable[int], exclude: str | None = None) -> Audience:
        return Audience({})

    def push(self, audience: Audience, frame: BaseModel) -> int:
        return 0

    def reply(self, connection_id: str, frame: Frame) -> None:
        raise RuntimeError("no management endpoint: cannot reply on a connection")

    def disconnect(self, connection_id: str) -> None:
        raise RuntimeError("no management endpoint: cannot close a connection")
