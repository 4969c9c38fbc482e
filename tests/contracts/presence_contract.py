"""What any presence adapter must do (the real one on Redis, the in-memory fake)."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.chat.ports import Presence
from chalicelib.errors import TooManyConnections, Unauthorized
from tests.clocks import ManualClock

TTL_SECONDS = 100


def conn_id() -> str:
    return uuid.uuid4().hex[:15] + "="


def user_id() -> int:
    return uuid.uuid4().int >> 66  # unique per test, fits in 63 bits


class PresenceContract:
    """Subclasses provide the `presence` fixture (ttl TTL_SECONDS, clock `clock`)."""

    def test_add_then_lookup_both_ways(self, presence: Presence) -> None:
        user, c1, c2 = user_id(), conn_id(), conn_id()
        presence.add(c1, user)
        presence.add(c2, user)
        assert sorted(presence.connections_of_many([user])[user]) == sorted([c1, c2])
        assert presence.user_of(c1) == user
        assert presence.user_of(c2) == user

    def test_users_do_not_see_each_others_connections(self, presence: Presence) -> None:
        a, b = user_id(), user_id()
        ca, cb = conn_id(), conn_id()
        presence.add(ca, a)
        presence.add(cb, b)
        assert presence.connections_of_many([a, b]) == {a: [ca], b: [cb]}

    def test_users_without_connections_are_left_out(self, presence: Presence) -> None:
        online, offline = user_id(), user_id()
        c = conn_id()
        presence.add(c, online)
        assert presence.connections_of_many([online, offline, online]) == {online: [c]}
        assert presence.connections_of_many([]) == {}

    def test_remove_forgets_only_that_connection(self, presence: Presence) -> None:
        user, c1, c2 = user_id(), conn_id(), conn_id()
        presence.add(c1, user)
        presence.add(c2, user)

        assert presence.remove(c1) == user

        assert presence.connections_of_many([user]) == {user: [c2]}
        assert presence.user_of(c1) is None
        assert presence.remove(c1) is None  # twice is harmless

    def test_remove_many_forgets_each_pair(self, presence: Presence) -> None:
        a, b = user_id(), user_id()
        a1, a2, b1 = conn_id(), conn_id(), conn_id()
        for c, u in ((a1, a), (a2, a), (b1, b)):
            presence.add(c, u)
        presence.remove_many([(a1, a), (b1, b)])
        assert presence.connections_of_many([a, b]) == {a: [a2]}
        assert presence.user_of(b1) is None

    def test_entries_expire_by_the_clock(self, presence: Presence, clock: ManualClock) -> None:
        user, old, new = user_id(), conn_id(), conn_id()
        presence.add(old, user)
        clock.now += 60
        presence.add(new, user)
        clock.now += 50  # old is 110 s old (ttl 100), new is 50 s old

        assert presence.connections_of_many([user]) == {user: [new]}
        assert presence.user_of(old) is None
        assert presence.user_of(new) == user

    def test_adding_again_renews_the_entry(self, presence: Presence, clock: ManualClock) -> None:
        user, c = user_id(), conn_id()
        presence.add(c, user)
        clock.now += 90
        presence.add(c, user)  # a ping re-registers
        clock.now += 90
        assert presence.user_of(c) == user

    def test_a_connection_lives_no_longer_than_its_token(
        self, presence: Presence, clock: ManualClock
    ) -> None:
        user, c = user_id(), conn_id()
        presence.add(c, user, expires_at=clock.now + 30)
        assert presence.identity(c) == (user, clock.now + 30, None)
        expired_at = clock.now + 30
        clock.now += 31
        assert presence.identity(c) == (user, expired_at, None)  # known, but past its token
        assert presence.user_of(c) is None
        assert presence.connections_of_many([user]) == {}
        presence.add(c, user, expires_at=clock.now + 10_000, issued_at=clock.now)  # renewed
        assert presence.identity(c) == (user, clock.now + TTL_SECONDS, clock.now)  # TTL caps

    def test_new_connections_beyond_the_cap_are_refused_renewals_are_not(
        self, presence: Presence, clock: ManualClock
    ) -> None:
        user = user_id()
        first, second, third = conn_id(), conn_id(), conn_id()
        presence.add(first, user, max_connections=2)
        presence.add(second, user, max_connections=2)
        with pytest.raises(TooManyConnections) as refused:
            presence.add(third, user, max_connections=2)
        assert refused.value.status == 429
        assert presence.identity(third) is None and presence.user_of(third) is None
        presence.add(first, user, max_connections=2)  # a ping renews: not a new one
        clock.now += TTL_SECONDS + 1  # both expire
        presence.add(third, user, max_connections=2)
        assert presence.connections_of_many([user]) == {user: [third]}

    def test_revoking_ends_live_sessions_and_refuses_older_tokens(
        self, presence: Presence, clock: ManualClock
    ) -> None:
        user, c1, c2 = user_id(), conn_id(), conn_id()
        presence.add(c1, user, issued_at=clock.now - 100)
        presence.add(c2, user, issued_at=clock.now - 100)
        assert sorted(presence.revoke(user, keep_seconds=3600)) == sorted([c1, c2])
        assert presence.connections_of_many([user]) == {}
        found = presence.identity(c1)
        assert found is not None and found[1] <= clock.now  # ended, not forgotten
        with pytest.raises(Unauthorized):
            presence.add(conn_id(), user, issued_at=clock.now - 1)  # the old token
        with pytest.raises(Unauthorized):
            presence.add(conn_id(), user)  # a token without `iat` cannot prove it is newer
        clock.now += 1
        presence.add(conn_id(), user, issued_at=clock.now)  # signed in again
