"""Dependencies failing under a running stack of its own: with Redis gone, messages are
still stored and acknowledged (only pushes and the limit wait for it); with MongoDB
gone, requests fail fast with 503 / `unavailable` and nothing is acknowledged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.services import Service, start_mongo, start_redis
from tests.e2e.conftest import running_stack
from tests.e2e.support import Stack, new_user

pytestmark = pytest.mark.slow


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Service]:
    service = start_redis(tmp_path / "redis", persist=False)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def own_mongo(tmp_path: Path) -> Iterator[Service]:
    service = start_mongo(tmp_path / "mongo")
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def fragile_stack(tmp_path: Path, own_mongo: Service, own_redis: Service) -> Iterator[Stack]:
    env = {
        "MONGODB_URI": own_mongo.url,
        "MONGODB_DATABASE": f"outage_{uuid.uuid4().hex[:8]}",
        "REDIS_URL": own_redis.url,
        "IM_SEND_RATE_LIMIT": "1000/1",
    }
    with running_stack(tmp_path / "stack", env) as stack:
        yield stack


def test_with_redis_gone_sends_are_stored_and_acknowledged(
    fragile_stack: Stack, own_redis: Service
) -> None:
    a, b = new_user(), new_user()
    with fragile_stack.chat(a) as chat_a, fragile_stack.chat(b) as chat_b:
        assert chat_a.send(b, "before")["type"] == "ack"
        chat_b.expect("message")
        own_redis.stop()
        acks = [chat_a.send(b, f"during {i}") for i in range(3)]
        assert [x["type"] for x in acks] == ["ack"] * 3
    page = fragile_stack.unread(b)  # REST needs no Redis either
    assert [m["content"] for m in page["messages"]] == [
        "before",
        "during 0",
        "during 1",
        "during 2",
    ]


def test_with_mongodb_gone_nothing_is_acknowledged_and_answers_are_503(
    fragile_stack: Stack, own_mongo: Service
) -> None:
    a, b = new_user(), new_user()
    with fragile_stack.chat(a) as chat_a:
        assert chat_a.send(b, "stored")["type"] == "ack"
        own_mongo.stop()
        for i in range(3):  # the first waits for the driver; the others fail at once
            refused = chat_a.send(b, "lost?", ack_id=f"down-{i}", timeout=30)
            assert (refused["type"], refused["code"]) == ("error", "unavailable")
        chat_a.ping()  # the connection itself is fine
    for _ in range(2):
        response = fragile_stack.post("/api/v1/messages/unread", {}, fragile_stack.token(b))
        assert response.status_code == 503 and response.json()["error"]
