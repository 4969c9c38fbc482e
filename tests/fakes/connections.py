"""A fake of API Gateway's @connections PostToConnection (chalicelib.management's
ConnectionsApi): it records what each connection was sent, in order, and answers 410
Gone for connections marked gone. The real client is tested against the local gateway
(tests/e2e/test_management_client.py)."""

from __future__ import annotations

import json
import threading
from typing import Any

from chalicelib.management import Delivery


class RecordingConnections:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []  # (connection, frame), in order
        # Posts and whatever else a test records (acks), in the order they happened.
        self.journal: list[tuple[str, dict[str, Any]]] = []
        self.gone: set[str] = set()
        self.failing: set[str] = set()
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> tuple[Delivery, str | None]:
        if connection_id in self.gone:
            return "gone", None
        if connection_id in self.failing:
            return "failed", "InternalServerError"
        frame = json.loads(data)
        with self._lock:
            self.sent.append((connection_id, frame))
            self.journal.append((connection_id, frame))
        return "delivered", None

    def delete(self, connection_id: str) -> bool:
        with self._lock:
            self.journal.append((connection_id, {"type": "<closed>"}))
        gone = connection_id in self.gone
        self.gone.add(connection_id)
        return not gone

    def frames(self, connection_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                f
                for c, f in self.sent
                if c == connection_id and (kind is None or f["type"] == kind)
            ]
