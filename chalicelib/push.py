"""Pusher: deliver one frame to many live connections through the API Gateway
Management API (`post_to_connection`), concurrently but bounded.

A 410 GoneException means that connection is dead (closed without `$disconnect`, or
timed out): the caller removes *that* id from presence. Any other failure is reported
and counted; the message itself is already stored and stays unread, so nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)


class ManagementClient(Protocol):
    """The one call we need from boto3's `apigatewaymanagementapi` client."""

    def post_to_connection(self, *, Data: bytes, ConnectionId: str) -> Any: ...  # noqa: N803


@dataclass
class PushOutcome:
    delivered: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _is_gone(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return bool(error.get("Code") == "GoneException" or status == 410)


class Pusher:
    def __init__(self, client: ManagementClient, max_concurrency: int = 16) -> None:
        self._client = client
        self._max_concurrency = max_concurrency
        self._pool: ThreadPoolExecutor | None = None

    def _post(self, connection_id: str, data: bytes) -> str:
        try:
            self._client.post_to_connection(Data=data, ConnectionId=connection_id)
            return "delivered"
        except ClientError as exc:
            if _is_gone(exc):
                return "gone"
            code = exc.response.get("Error", {}).get("Code", "unknown")
            log.warning("push failed", extra={"connection_id": connection_id, "error": code})
            return "failed"
        except BotoCoreError as exc:  # timeouts, connection errors
            log.warning(
                "push failed",
                extra={"connection_id": connection_id, "error": type(exc).__name__},
            )
            return "failed"

    def send(self, connection_id: str, data: bytes) -> str:
        """One frame to one connection: 'delivered', 'gone' or 'failed'."""
        return self._post(connection_id, data)

    def push(self, connection_ids: Sequence[str], data: bytes) -> PushOutcome:
        """The same frame to every connection; returns when every post has finished."""
        outcome = PushOutcome()
        if len(connection_ids) == 1:  # the common case needs no thread hop
            results = [self._post(connection_ids[0], data)]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_concurrency, "push")
            results = list(self._pool.map(lambda c: self._post(c, data), connection_ids))
        for connection_id, result in zip(connection_ids, results, strict=True):
            getattr(outcome, result).append(connection_id)
        return outcome
