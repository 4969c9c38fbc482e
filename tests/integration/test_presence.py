"""Presence against a real redis-server: the shared contract, and what is Redis's own."""

from __future__ import annotations

import time

import pytest
import redis

from chalicelib.presence import Presence
from tests.clocks import ManualClock
from tests.contracts.presence_contract import TTL_SECONDS, PresenceContract, conn_id, user_id


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def presence(redis_client: redis.Redis, clock: ManualClock) -> Presence:
    return Presence(redis_client, ttl_seconds=TTL_SECONDS, clock=clock)


class TestRedisPresence(PresenceContract):
    pass


def test_remove_with_known_user_works_after_own_key_is_gone(
    presence: Presence, redis_client: redis.Redis
) -> None:
    user, c = user_id(), conn_id()
    presence.add(c, user)
    redis_client.delete(f"im:conn:{{c:{c}}}")
    assert presence.remove(c, user_id=user) == user
    assert presence.connections_of(user) == []


def test_expired_members_are_pruned_from_redis_on_next_add(
    presence: Presence, clock: ManualClock, redis_client: redis.Redis
) -> None:
    user = user_id()
    stale = [conn_id() for _ in range(5)]
    for c in stale:
        presence.add(c, user)
    clock.now += 1000
    fresh = conn_id()
    presence.add(fresh, user)
    assert redis_client.zrange(f"im:user:{{u:{user}}}", 0, -1) == [fresh]


def test_keys_carry_redis_ttls_so_memory_is_bounded(
    presence: Presence, redis_client: redis.Redis
) -> None:
    user, c = user_id(), conn_id()
    presence.add(c, user)
    for key in (f"im:conn:{{c:{c}}}", f"im:user:{{u:{user}}}"):
        ttl = redis_client.ttl(key)
        assert 100 < ttl <= 160, key


def test_real_redis_expiry_removes_the_keys(redis_client: redis.Redis) -> None:
    presence = Presence(redis_client, ttl_seconds=1)
    user, c = user_id(), conn_id()
    presence.add(c, user)
    # physical TTL is ttl + grace; make it short to watch Redis itself expire the keys
    redis_client.pexpire(f"im:conn:{{c:{c}}}", 50)
    redis_client.pexpire(f"im:user:{{u:{user}}}", 50)
    time.sleep(0.2)
    assert redis_client.exists(f"im:conn:{{c:{c}}}", f"im:user:{{u:{user}}}") == 0
    assert presence.user_of(c) is None
    assert presence.connections_of(user) == []


def test_keys_of_one_user_hash_to_one_slot_by_tag() -> None:
    from redis.crc import key_slot

    assert key_slot(b"im:user:{u:42}") == key_slot(b"u:42")
    assert key_slot(b"im:conn:{c:abc=}") == key_slot(b"c:abc=")
