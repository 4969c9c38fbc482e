"""The in-memory presence passes the presence contract; and it can fail on purpose."""

from __future__ import annotations

import pytest

from chalicelib.errors import Unavailable
from tests.clocks import ManualClock
from tests.contracts.presence_contract import TTL_SECONDS, PresenceContract
from tests.fakes.presence import FakePresence


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def presence(clock: ManualClock) -> FakePresence:
    return FakePresence(ttl_seconds=TTL_SECONDS, clock=clock)


class TestFakePresence(PresenceContract):
    pass


def test_down_presence_fails_like_redis(presence: FakePresence) -> None:
    presence.down = True
    with pytest.raises(Unavailable):
        presence.connections_of_many([1])
