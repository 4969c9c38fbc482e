"""Dependencies gone under a running stack of its own: with Redis gone, messages are
still stored and acknowledged (only pushes and the limit wait for it); with MongoDB
gone, requests fail fast with 503 / `unavailable` and nothing is acknowledged."""

from __future__ import annotations

import pytest

from tests.e2e.support import new_user
from tests.faults.stack import FaultStack

pytestmark = pytest.mark.slow


def test_with_redis_gone_sends_are_stored_and_acknowledged(faults: FaultStack) -> None:
    stack = faults.stack
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a, stack.chat(b) as chat_b:
        assert chat_a.send(b, "before")["type"] == "ack"
        chat_b.expect("message")
        faults.kill_redis()
        acks = [chat_a.send(b, f"during {i}") for i in range(3)]
        assert [x["type"] for x in acks] == ["ack"] * 3
    page = stack.unread(b)  # REST needs no Redis either
    assert [m["content"] for m in page["messages"]] == [
        "before",
        "during 0",
        "during 1",
        "during 2",
    ]


def test_with_mongodb_gone_nothing_is_acknowledged_and_answers_are_503(
    faults: FaultStack,
) -> None:
    stack = faults.stack
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a:
        assert chat_a.send(b, "stored")["type"] == "ack"
        faults.kill_mongo()
        for i in range(3):  # the first waits for the driver; the others fail at once
            refused = chat_a.send(b, "lost?", ack_id=f"down-{i}", timeout=30)
            assert (refused["type"], refused["code"]) == ("error", "unavailable")
        chat_a.ping()  # the connection itself is fine
    for _ in range(2):
        response = stack.post("/api/v1/messages/unread", {}, stack.token(b))
        assert response.status_code == 503 and response.json()["error"]
