"""Pusher: deliver one frame to many live connections, concurrently but bounded.

A 410 GoneException means that connection is dead (closed without `$disconnect`, or
timed out): the caller removes *that* id from presence. Any other failure is reported
and counted; the message itself is already stored and stays unread, so nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chalicelib.management import ConnectionsApi, Delivery

log = logging.getLogger(__name__)


@dataclass
class PushOutcome:
    delivered: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Pusher:
    def __init__(self, api: ConnectionsApi, max_concurrency: int = 16) -> None:
        self._api = api
        self._max_concurrency = max_concurrency
        self._pool: ThreadPoolExecutor | None = None

    def send(self, connection_id: str, data: bytes) -> Delivery:
        """One frame to one connection."""
        result, error = self._api.post(connection_id, data)
        if result == "failed":
            log.warning("push failed", extra={"connection_id": connection_id, "error": error})
        return result

    def close(self, connection_id: str) -> bool:
        return self._api.delete(connection_id)

    def push(self, connection_ids: Sequence[str], data: bytes) -> PushOutcome:
        """The same frame to every connection; returns when every post has finished."""
        outcome = PushOutcome()
        if len(connection_ids) == 1:  # the common case needs no thread hop
            results = [self.send(connection_ids[0], data)]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_concurrency, "push")
            results = list(self._pool.map(lambda c: self.send(c, data), connection_ids))
        for connection_id, result in zip(connection_ids, results, strict=True):
            getattr(outcome, result).append(connection_id)
        return outcome
