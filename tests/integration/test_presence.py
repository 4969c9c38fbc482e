"""Presence against a real redis-server."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from chalicelib.presence import Presence
from tests.clocks import ManualClock


def conn_id() -> str:
    return uuid.uuid4().hex[:15] + "="


def user_id() -> int:
    return uuid.uuid4().int >> 66  # unique per test, fits in 63 bits


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def presence(redis_client: redis.Redis, clock: ManualClock) -> Presence:
    return Presence(redis_client, ttl_seconds=100, clock=clock)


def test_add_then_lookup_both_ways(presence: Presence) -> None:
    user, c1, c2 = user_id(), conn_id(), conn_id()
    presence.add(c1, user)
    presence.add(c2, user)
    assert sorted(presence.connections_of(user)) == sorted([c1, c2])
    assert presence.user_of(c1) == user
    assert presence.user_of(c2) == user


def test_users_do_not_see_each_others_connections(presence: Presence) -> None:
    a, b = user_id(), user_id()
    ca, cb = conn_id(), conn_id()
    presence.add(ca, a)
    presence.add(cb, b)
    assert presence.connections_of(a) == [ca]
    assert presence.connections_of(b) == [cb]


def test_remove_forgets_only_that_connection(presence: Presence) -> None:
    user, c1, c2 = user_id(), conn_id(), conn_id()
    presence.add(c1, user)
    presence.add(c2, user)

    assert presence.remove(c1) == user

    assert presence.connections_of(user) == [c2]
    assert presence.user_of(c1) is None
    assert presence.remove(c1) is None  # twice is harmless


def test_remove_with_known_user_works_after_own_key_is_gone(
    presence: Presence, redis_client: redis.Redis
) -> None:
    user, c = user_id(), conn_id()
    presence.add(c, user)
    redis_client.delete(f"im:conn:{{c:{c}}}")
    assert presence.remove(c, user_id=user) == user
    assert presence.connections_of(user) == []


def test_entries_expire_by_the_clock(presence: Presence, clock: ManualClock) -> None:
    user, old, new = user_id(), conn_id(), conn_id()
    presence.add(old, user)
    clock.now += 60
    presence.add(new, user)
    clock.now += 50  # old is 110 s old (ttl 100), new is 50 s old

    assert presence.connections_of(user) == [new]
    assert presence.user_of(old) is None
    assert presence.user_of(new) == user


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
