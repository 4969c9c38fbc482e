"""Presence: which live WebSocket connections belong to which user, in Redis.

Keys (every command touches one key, and the hash tag in braces names the slot, so the
same code runs on a Redis Cluster / ElastiCache cluster unchanged):

    im:conn:{c:<connection id>} -> "<user id>:<expiry epoch>"   (string, EX)
    im:user:{u:<user id>}       -> zset of connection ids scored by expiry epoch

API Gateway closes every connection after 2 hours and `$disconnect` is best-effort, so
entries expire by themselves: logically at `ttl` by the injected clock (what readers
check), physically a little later by Redis TTLs (what keeps memory bounded).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from redis import Redis, RedisCluster
from redis.exceptions import RedisError

from chalicelib.breaker import CircuitBreaker
from chalicelib.chat.domain import Identity
from chalicelib.clock import EpochClock, epoch_seconds
from chalicelib.errors import TooManyConnections, Unauthorized, Unavailable

# API Gateway's maximum connection duration (2 h) plus a margin for clock skew.
DEFAULT_TTL_SECONDS = 2 * 3600 + 300
_GC_GRACE_SECONDS = 60


RedisLike = Redis | RedisCluster

# KEYS[1]: the user's set, KEYS[2]: the user's revocation time (same slot).
# ARGV: now, expiry, connection id, physical TTL, max (0: none), token issued at (or "").
_REGISTER = """
local revoked = redis.call('GET', KEYS[2])
if revoked and (ARGV[6] == '' or tonumber(ARGV[6]) < tonumber(revoked)) then
  return -1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local max = tonumber(ARGV[5])
if max > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[3])
   and redis.call('ZCARD', KEYS[1]) >= max then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _conn_key(connection_id: str) -> str:
    return f"im:conn:{{c:{connection_id}}}"


def _user_key(user_id: int) -> str:
    return f"im:user:{{u:{user_id}}}"


def _revoked_key(user_id: int) -> str:
    return f"im:revoked:{{u:{user_id}}}"


class Presence:
    def __init__(
        self,
        redis: RedisLike,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: EpochClock = epoch_seconds,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._clock = clock
        self._register = redis.register_script(_REGISTER)
        self._breaker = breaker or CircuitBreaker(clock=clock)

    @contextmanager
    def _io(self) -> Iterator[None]:
        """A Redis call; `Unavailable` on failure, at once while Redis is known down."""
        if not self._breaker.allow():
            raise Unavailable("presence unavailable")
        try:
            yield
        except RedisError as exc:
            self._breaker.failed()
            raise Unavailable("presence unavailable") from exc
        self._breaker.succeeded()

    def add(
        self,
        connection_id: str,
        user_id: int,
        expires_at: float | None = None,
        max_connections: int = 0,
        issued_at: float | None = None,
    ) -> None:
        """Register (or renew) a connection until `expires_at` (its token's expiry),
        at most the TTL from now. With `max_connections`, a user's new connection
        beyond that many live ones is refused (TooManyConnections); renewing is not.
        A token issued before the user's sessions were revoked is refused (Revoked)."""
        now = self._clock()
        expires = now + self._ttl if expires_at is None else min(now + self._ttl, expires_at)
        physical_ttl = self._ttl + _GC_GRACE_SECONDS
        conn_key = _conn_key(connection_id)
        with self._io():
            pipe = self._redis.pipeline(transaction=False)
            # One key per command or script, as Redis Cluster requires: the user's set
            # (pruned, capped and added to atomically), then the connection's own key.
            self._register(
                keys=[_user_key(user_id), _revoked_key(user_id)],
                args=[
                    now,
                    expires,
                    connection_id,
                    physical_ttl,
                    max_connections,
                    "" if issued_at is None else issued_at,
                ],
                client=pipe,
            )
            issued = "" if issued_at is None else repr(issued_at)
            pipe.set(conn_key, f"{user_id}:{expires}:{issued}", ex=physical_ttl)
            added, _ = pipe.execute()
            if added != 1:
                self._redis.delete(conn_key)
        if added == -1:
            raise Unauthorized("this user's sessions were revoked; sign in again")
        if added != 1:
            raise TooManyConnections(
                f"at most {max_connections} connections per user; close one first"
            )

    def revoke(self, user_id: int, keep_seconds: int) -> list[str]:
        """End a user's sessions now: tokens issued before now are refused for
        `keep_seconds` (the longest token lifetime), and every live connection's entry
        expires at once. Returns those connections, for the caller to close."""
        now = self._clock()
        user_key = _user_key(user_id)
        with self._io():
            live = [_text(c) for c in self._redis.zrangebyscore(user_key, f"({now}", "+inf")]
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(_revoked_key(user_id), now, ex=keep_seconds)
            pipe.delete(user_key)
            for connection_id in live:
                # An expired entry, not none: a container that remembers the connection
                # must see it ended, not restore it.
                pipe.set(_conn_key(connection_id), f"{user_id}:{now}:", ex=self._ttl)
            pipe.execute()
        return live

    def identity(self, connection_id: str) -> Identity | None:
        """(user, expiry) of a registered connection -- also one past its expiry, so a
        caller can tell "token expired" from "never heard of it"."""
        with self._io():
            value = self._redis.get(_conn_key(connection_id))
        if value is None:
            return None
        user, expires, issued = [*_text(value).split(":"), ""][:3]
        return Identity(int(user), float(expires), float(issued) if issued else None)

    def user_of(self, connection_id: str) -> int | None:
        """The user of a live (unexpired) connection."""
        found = self.identity(connection_id)
        return found[0] if found is not None and found[1] > self._clock() else None

    def connections_of(self, user_id: int) -> list[str]:
        return self.connections_of_many([user_id]).get(user_id, [])

    def connections_of_many(self, user_ids: Iterable[int]) -> dict[int, list[str]]:
        """Live connections of each user that has any, in one pipeline: one round trip
        on a single node; on a cluster, redis-py sends each node its share."""
        users = list(dict.fromkeys(user_ids))
        if not users:
            return {}
        now = f"({self._clock()}"
        with self._io():
            pipe = self._redis.pipeline(transaction=False)
            for user in users:
                pipe.zrangebyscore(_user_key(user), now, "+inf")
            replies = pipe.execute()
        return {u: [_text(m) for m in r] for u, r in zip(users, replies, strict=True) if r}

    def remove(self, connection_id: str, user_id: int | None = None) -> int | None:
        """Forget a connection; returns the user it belonged to, when known.

        Pass `user_id` when the caller knows it (a push that got 410 Gone does), which
        saves a read and also works after the connection's own key has expired.
        """
        with self._io():
            owner = user_id
            if owner is None:
                value = self._redis.get(_conn_key(connection_id))
                owner = int(_text(value).partition(":")[0]) if value else None
            pipe = self._redis.pipeline(transaction=False)
            pipe.delete(_conn_key(connection_id))
            if owner is not None:
                pipe.zrem(_user_key(owner), connection_id)
            pipe.execute()
            return owner

    def remove_many(self, connections: Iterable[tuple[str, int]]) -> None:
        """Forget (connection id, user id) pairs, in one pipeline."""
        pairs = list(connections)
        if not pairs:
            return
        with self._io():
            pipe = self._redis.pipeline(transaction=False)
            for connection_id, user_id in pairs:
                pipe.delete(_conn_key(connection_id))
                pipe.zrem(_user_key(user_id), connection_id)
            pipe.execute()
