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

from redis import Redis, RedisCluster
from redis.exceptions import RedisError

from chalicelib.clock import EpochClock, epoch_seconds
from chalicelib.errors import Unavailable

# API Gateway's maximum connection duration (2 h) plus a margin for clock skew.
DEFAULT_TTL_SECONDS = 2 * 3600 + 300
_GC_GRACE_SECONDS = 60


RedisLike = Redis | RedisCluster


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _conn_key(connection_id: str) -> str:
    return f"im:conn:{{c:{connection_id}}}"


def _user_key(user_id: int) -> str:
    return f"im:user:{{u:{user_id}}}"


class Presence:
    def __init__(
        self,
        redis: RedisLike,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: EpochClock = epoch_seconds,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._clock = clock

    def add(self, connection_id: str, user_id: int) -> None:
        now = self._clock()
        expires = now + self._ttl
        physical_ttl = self._ttl + _GC_GRACE_SECONDS
        user_key = _user_key(user_id)
        try:
            # Not a transaction: each command names one key, as Redis Cluster requires.
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(_conn_key(connection_id), f"{user_id}:{expires}", ex=physical_ttl)
            pipe.zremrangebyscore(user_key, "-inf", now)
            pipe.zadd(user_key, {connection_id: expires})
            pipe.expire(user_key, physical_ttl)
            pipe.execute()
        except RedisError as exc:
            raise Unavailable("presence unavailable") from exc

    def user_of(self, connection_id: str) -> int | None:
        try:
            value = self._redis.get(_conn_key(connection_id))
        except RedisError as exc:
            raise Unavailable("presence unavailable") from exc
        if value is None:
            return None
        user, _, expires = _text(value).partition(":")
        if float(expires) <= self._clock():
            return None
        return int(user)

    def connections_of(self, user_id: int) -> list[str]:
        try:
            members = self._redis.zrangebyscore(_user_key(user_id), f"({self._clock()}", "+inf")
        except RedisError as exc:
            raise Unavailable("presence unavailable") from exc
        return [_text(m) for m in members]

    def remove(self, connection_id: str, user_id: int | None = None) -> int | None:
        """Forget a connection; returns the user it belonged to, when known.

        Pass `user_id` when the caller knows it (a push that got 410 Gone does), which
        saves a read and also works after the connection's own key has expired.
        """
        try:
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
        except RedisError as exc:
            raise Unavailable("presence unavailable") from exc
