"""Connection sessions: bound to a token's lifetime, restored after presence loses
them, refused when nobody knows them. Fake presence, manual clock."""

from __future__ import annotations

import pytest

from chalicelib.errors import TooManyConnections, Unavailable
from chalicelib.sessions import SessionExpired, Sessions, SessionUnknown
from tests.clocks import ManualClock
from tests.fakes.presence import FakePresence


def world(max_connections: int = 0) -> tuple[Sessions, FakePresence, ManualClock]:
    clock = ManualClock()
    presence = FakePresence(ttl_seconds=7200, clock=clock)
    return Sessions(presence, max_connections, revalidate_seconds=5, clock=clock), presence, clock


def test_a_session_lasts_as_long_as_its_token() -> None:
    sessions, _, clock = world()
    sessions.bind("c1", 7, clock.now + 60)
    assert sessions.who("c1") == 7
    clock.now += 61
    with pytest.raises(SessionExpired) as expired:
        sessions.who("c1")
    assert expired.value.code == "unauthorized"


def test_a_fresh_token_renews_the_session() -> None:
    sessions, _, clock = world()
    sessions.bind("c1", 7, clock.now + 60)
    clock.now += 50
    sessions.bind("c1", 7, clock.now + 3600)
    clock.now += 100
    assert sessions.who("c1") == 7


def test_what_presence_lost_is_registered_again_from_memory() -> None:
    sessions, presence, clock = world()
    sessions.bind("c1", 7, clock.now + 600)
    presence.remove("c1")  # Redis restarted empty
    clock.now += 10  # past the revalidation interval: presence is asked, and knows nothing
    assert sessions.who("c1") == 7
    assert presence.connections_of_many([7]) == {7: ["c1"]}  # pushes find it again


def test_a_connection_nobody_knows_must_authenticate() -> None:
    sessions, presence, clock = world()
    with pytest.raises(SessionUnknown) as unknown:
        sessions.who("stranger")
    assert "auth" in unknown.value.message
    # Another container bound it: this one learns it from presence.
    presence.add("c2", 9, clock.now + 600)
    assert sessions.who("c2") == 9


def test_a_revoked_connection_is_seen_within_the_revalidation_interval() -> None:
    sessions, presence, clock = world()
    other = Sessions(presence, 0, 5, clock)  # another container that saw it earlier
    sessions.bind("c1", 7, clock.now + 600)
    assert other.who("c1") == 7
    presence.remove("c1")
    presence.add("c1", 7, clock.now - 1)  # what revocation leaves: an expired entry
    clock.now += 6
    with pytest.raises(SessionExpired):
        other.who("c1")


def test_binding_past_the_cap_is_refused() -> None:
    sessions, _, clock = world(max_connections=1)
    sessions.bind("c1", 7, clock.now + 600)
    with pytest.raises(TooManyConnections):
        sessions.bind("c2", 7, clock.now + 600)
    sessions.bind("c1", 7, clock.now + 900)  # renewing is not a new connection


def test_while_presence_is_down_what_the_container_knows_still_counts() -> None:
    sessions, presence, clock = world()
    sessions.bind("c1", 7, clock.now + 600)
    presence.down = True
    clock.now += 10
    assert sessions.who("c1") == 7
    with pytest.raises(Unavailable):
        sessions.who("never-seen")
