"""The chat use cases on in-memory fakes (the same suite runs on MongoDB and Redis in
tests/integration/test_chat.py), and what only a fake can show: presence failing."""

from __future__ import annotations

import pytest

from chalicelib.chat.service import Policy
from chalicelib.config import RateLimit
from chalicelib.delivery import ConnectionsDelivery
from chalicelib.models.frames import PongFrame
from chalicelib.push import Pusher
from tests.clocks import ManualClock, ManualTime
from tests.contracts.chat_contract import ChatContract, MakeWorld
from tests.contracts.chat_world import World, new_user
from tests.fakes.presence import FakePresence
from tests.fakes.ratelimit import FakeRateLimiter
from tests.fakes.store import FakeChatStore


@pytest.fixture
def make_world() -> MakeWorld:
    clock = ManualTime(step_ms=1)
    store, presence = FakeChatStore(clock), FakePresence(clock=ManualClock())
    limiter = FakeRateLimiter(RateLimit(10_000, 1))

    def make(policy: Policy) -> World:
        return World(store, presence, limiter, clock, policy)

    return make


class TestChatOnFakes(ChatContract):
    pass


def test_without_presence_a_send_is_stored_and_acknowledged_but_not_pushed(
    make_world: MakeWorld,
) -> None:
    world = make_world(Policy())
    a, b = new_user(), new_user()
    receiver = world.connect(b)
    assert isinstance(world.presence, FakePresence)
    world.presence.down = True
    appended = world.send(a, "kept", to=b)
    assert len(world.acks) == 1 and world.frames(receiver) == []
    world.presence.down = False
    assert [m.id for m in world.chat.unread(b, 10, None).items] == [appended.message.id]


def test_a_gone_connection_is_pruned_and_the_others_still_get_it(make_world: MakeWorld) -> None:
    world = make_world(Policy())
    a, b = new_user(), new_user()
    dead, alive = world.connect(b), world.connect(b)
    world.api.gone.add(dead)
    world.send(a, "one", to=b)
    assert world.contents(alive) == ["one"]
    assert world.presence.connections_of_many([b]) == {b: [alive]}


def test_a_push_past_the_fanout_cap_reaches_every_user_first(make_world: MakeWorld) -> None:
    world = make_world(Policy())
    users = [new_user() for _ in range(3)]
    phones = [world.connect(u) for u in users]
    laptops = [world.connect(u) for u in users]
    capped = ConnectionsDelivery(world.presence, Pusher(world.api, 4), max_fanout=4)
    assert capped.push(capped.audience(users), PongFrame()) == 4
    reached = {c for c, _ in world.api.sent}
    assert set(phones) <= reached and len(reached & set(laptops)) == 1
