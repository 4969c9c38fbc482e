"""Who a WebSocket connection is, and until when: its token's user and expiry.

`$connect` (and the `auth` action, which renews a session with a fresh token without
reconnecting) verify a JWT and `bind` the connection in presence until the token
expires. Every frame then asks `who()`:

- a session past its token's expiry is `SessionExpired` -- the handler answers
  `unauthorized` and closes the connection, so it can act as its user no longer than
  its token allows;
- a connection presence does not know (Redis lost its data, or never heard of it) is
  `SessionUnknown` -- `unauthorized` without a close: the client sends `auth` with its
  token and carries on, so a Redis restart causes no reconnect storm;
- but a connection this container bound or saw recently is known here: if presence
  lost it, it is registered again from here, so pushes to it resume with its next frame;
  and while Redis is down, what the container knows is used (sends still work).

The container's memory of a connection is checked against Redis at most every
`revalidate_seconds`, so a revocation (which deletes the presence entries and closes
the connections) is seen everywhere within that time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from chalicelib.chat.ports import Presence
from chalicelib.clock import EpochClock, epoch_seconds
from chalicelib.errors import Unauthorized, Unavailable
from chalicelib.observability import count

_CACHE_SIZE = 10_000


class SessionExpired(Unauthorized):
    """The connection's token has expired: answer, then close the connection."""


class SessionUnknown(Unauthorized):
    """Presence has no such connection: the client should send `auth`."""


@dataclass(frozen=True)
class Session:
    user: int
    expires_at: float
    checked_at: float
    issued_at: float | None = None


class Sessions:
    def __init__(
        self,
        presence: Presence,
        max_connections: int = 0,
        revalidate_seconds: float = 5.0,
        clock: EpochClock = epoch_seconds,
    ) -> None:
        self._presence = presence
        self._max = max_connections
        self._revalidate = revalidate_seconds
        self._clock = clock
        self._known: dict[str, Session] = {}
        self._lock = threading.Lock()

    def bind(
        self, connection_id: str, user: int, expires_at: float, issued_at: float | None = None
    ) -> None:
        """A verified token for this connection: register it until the token expires
        (refused if the user's sessions were revoked after it was issued)."""
        self._presence.add(connection_id, user, expires_at, self._max, issued_at)
        self._remember(connection_id, Session(user, expires_at, self._clock(), issued_at))

    def who(self, connection_id: str) -> int:
        now = self._clock()
        with self._lock:
            session = self._known.get(connection_id)
        if session is not None and now - session.checked_at < self._revalidate:
            return self._live(session, now)
        try:
            found = self._presence.identity(connection_id)
        except Unavailable:
            if session is None:
                raise  # nothing can prove who this is
            return self._live(session, now)  # Redis is down: what this container knows
        if found is not None:
            session = Session(found.user, found.expires_at, now, found.issued_at)
            self._remember(connection_id, session)
            return self._live(session, now)
        if session is None:
            raise SessionUnknown(
                'this connection is not signed in; send {"action": "auth", "token": ...}'
                " or reconnect"
            )
        live = self._live(session, now)
        # Presence lost a connection this container verified (Redis restarted empty):
        # register it again, so pushes find it.
        self._presence.add(connection_id, live, session.expires_at, 0, session.issued_at)
        self._remember(connection_id, replace(session, checked_at=now))
        count("SessionsRestored")
        return live

    def renew(self, connection_id: str) -> int:
        """Refresh the presence entry of a live session (a ping); its user."""
        user = self.who(connection_id)
        with self._lock:
            session = self._known[connection_id]
        self._presence.add(connection_id, user, session.expires_at, 0, session.issued_at)
        return user

    def forget(self, connection_id: str) -> None:
        with self._lock:
            self._known.pop(connection_id, None)

    def _live(self, session: Session, now: float) -> int:
        if session.expires_at <= now:
            raise SessionExpired("the token of this connection has expired; reconnect")
        return session.user

    def _remember(self, connection_id: str, session: Session) -> None:
        with self._lock:
            if connection_id not in self._known and len(self._known) >= _CACHE_SIZE:
                self._known.pop(next(iter(self._known)))
            self._known[connection_id] = session
