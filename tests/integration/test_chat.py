"""The chat use cases on the real MongoDB-compatible server and Redis (the same suite
runs on fakes in tests/unit/test_chat.py)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from pymongo.database import Database

from chalicelib.chat.service import Policy
from chalicelib.config import RateLimit
from chalicelib.presence import Presence
from chalicelib.ratelimit import SendRateLimiter
from chalicelib.store import MongoChatStore
from tests.clocks import ManualClock, ManualTime
from tests.contracts.chat_contract import ChatContract, MakeWorld
from tests.contracts.chat_world import World


@pytest.fixture
def make_world(mongo_db: Database[dict[str, Any]], redis_client: redis.Redis) -> MakeWorld:
    clock = ManualTime(step_ms=1)
    store = MongoChatStore(mongo_db, clock)
    store.ensure_indexes()
    presence = Presence(redis_client, clock=ManualClock())
    limiter = SendRateLimiter(redis_client, RateLimit(10_000, 1))

    def make(policy: Policy) -> World:
        return World(store, presence, limiter, clock, policy)

    return make


class TestChatOnMongoAndRedis(ChatContract):
    pass
