"""In-memory presence with chalicelib.presence.Presence's semantics (logical expiry by
an injected clock), and a switch that makes it fail like an unreachable Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from chalicelib.chat.domain import Identity
from chalicelib.clock import EpochClock, epoch_seconds
from chalicelib.errors import TooManyConnections, Unauthorized, Unavailable


class FakePresence:
    def __init__(self, ttl_seconds: int = 7500, clock: EpochClock = epoch_seconds) -> None:
        self._ttl, self._clock = ttl_seconds, clock
        self._owner: dict[str, Identity] = {}
        self._lock = threading.Lock()
        self._revoked: dict[int, tuple[float, float]] = {}  # user -> (when, until)
        self.down = False

    def _up(self) -> None:
        if self.down:
            raise Unavailable("presence unavailable")

    def add(
        self,
        connection_id: str,
        user_id: int,
        expires_at: float | None = None,
        max_connections: int = 0,
        issued_at: float | None = None,
    ) -> None:
        self._up()
        now = self._clock()
        revoked = self._revoked.get(user_id)
        if (
            revoked is not None
            and revoked[1] > now
            and (issued_at is None or issued_at < revoked[0])
        ):
            raise Unauthorized("this user's sessions were revoked; sign in again")
        expires = now + self._ttl if expires_at is None else min(now + self._ttl, expires_at)
        with self._lock:
            live = [c for c, i in self._owner.items() if i.user == user_id and i.expires_at > now]
            if max_connections and connection_id not in live and len(live) >= max_connections:
                raise TooManyConnections(
                    f"at most {max_connections} connections per user; close one first"
                )
            self._owner[connection_id] = Identity(user_id, expires, issued_at)

    def identity(self, connection_id: str) -> Identity | None:
        self._up()
        with self._lock:
            return self._owner.get(connection_id)

    def user_of(self, connection_id: str) -> int | None:
        found = self.identity(connection_id)
        return found[0] if found is not None and found[1] > self._clock() else None

    def connections_of(self, user_id: int) -> list[str]:
        return self.connections_of_many([user_id]).get(user_id, [])

    def connections_of_many(self, user_ids: Iterable[int]) -> dict[int, list[str]]:
        self._up()
        wanted, now = set(user_ids), self._clock()
        found: dict[int, list[str]] = {}
        with self._lock:
            for connection, (user, expires, _) in self._owner.items():
                if user in wanted and expires > now:
                    found.setdefault(user, []).append(connection)
        return found

    def remove(self, connection_id: str, user_id: int | None = None) -> int | None:
        self._up()
        with self._lock:
            entry = self._owner.pop(connection_id, None)
        return user_id if user_id is not None else (entry[0] if entry else None)

    def revoke(self, user_id: int, keep_seconds: int) -> list[str]:
        self._up()
        now = self._clock()
        with self._lock:
            self._revoked[user_id] = (now, now + keep_seconds)
            live = [c for c, i in self._owner.items() if i.user == user_id and i.expires_at > now]
            for connection_id in live:
                self._owner[connection_id] = Identity(user_id, now)
        return live

    def remove_many(self, connections: Iterable[tuple[str, int]]) -> None:
        self._up()
        with self._lock:
            for connection_id, _user in connections:
                self._owner.pop(connection_id, None)
