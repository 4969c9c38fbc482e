"""A stack with a low send limit and metrics on: the limit is an error frame that stores
nothing, and the counts operators watch come out as CloudWatch EMF lines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from infra.services import Service
from tests.e2e.conftest import running_stack
from tests.e2e.support import Stack, new_user

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def limited_stack(
    tmp_path_factory: pytest.TempPathFactory, mongo_service: Service, redis_service: Service
) -> Iterator[Stack]:
    env = {
        "MONGODB_URI": mongo_service.url,
        "MONGODB_DATABASE": "limits",
        "REDIS_URL": redis_service.url,
        "IM_SEND_RATE_LIMIT": "3/60",
        "IM_MAX_CONNECTIONS_PER_USER": "3",
        "POWERTOOLS_METRICS_DISABLED": "false",
    }
    with running_stack(tmp_path_factory.mktemp("limited"), env) as stack:
        yield stack


def emf_totals(log: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in log.read_text().splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record: dict[str, Any] = json.loads(line)
        for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            values = record[metric["Name"]]
            values = values if isinstance(values, list) else [values]
            totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


def test_over_the_limit_is_rate_limited_and_not_stored(limited_stack: Stack) -> None:
    a, b = new_user(), new_user()
    with limited_stack.chat(a) as chat:
        acks = [chat.send(b, f"m{i}") for i in range(3)]
        refused = chat.send(b, "one too many", ack_id="over-1")
    assert [x["type"] for x in acks] == ["ack"] * 3
    assert refused["type"] == "error"
    assert (refused["code"], refused["ack_id"]) == ("rate_limited", "over-1")
    assert 0 < refused["retry_after_ms"] <= 20_000  # one unit: 60 s / 3
    assert [m["content"] for m in limited_stack.all_unread(b)] == ["m0", "m1", "m2"]


def test_rest_shares_the_limit_and_says_when_to_retry(limited_stack: Stack) -> None:
    user = new_user()
    token = limited_stack.token(user)
    answers = [limited_stack.post("/api/v1/conversations", {}, token) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 20
    assert "retry" in answers[-1].json()["error"]
    with limited_stack.chat(user) as chat:  # the same bucket over the WebSocket
        refused = chat.send(new_user(), "over REST's budget", ack_id="shared-1")
    assert (refused["type"], refused["code"]) == ("error", "rate_limited")


def test_operator_counts_are_emitted_as_emf(limited_stack: Stack) -> None:
    log = limited_stack.extra["data_dir"] / "dev.log"
    before = emf_totals(log)
    a, b = new_user(), new_user()
    before_ids = limited_stack.connection_ids()
    stale = limited_stack.chat(b)
    (stale_id,) = limited_stack.connection_ids() - before_ids
    limited_stack.drop(stale_id)
    with limited_stack.chat(b) as chat_b, limited_stack.chat(a) as chat_a:
        chat_a.send(b, "counted", ack_id="k-1")
        chat_a.send(b, "counted", ack_id="k-1")  # duplicate
        chat_b.expect("message")
    stale.close()
    limited_stack.post("/api/v1/messages/unread", {}, "not-a-token")

    after = emf_totals(log)
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert delta["MessagesStored"] == 1
    assert delta["MessagesDuplicate"] == 1
    assert delta["MessagesPushed"] == 1
    assert delta["StaleConnectionsPruned"] == 1
    assert delta["AuthFailures"] == 1
    assert delta["Connections"] == 3


def test_a_user_past_the_connection_cap_is_refused_with_429(limited_stack: Stack) -> None:
    user = new_user()
    chats = [limited_stack.chat(user) for _ in range(3)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            limited_stack.chat(user)
        assert refused.value.response.status_code == 429
        chats.pop().close()  # one closes: room for one more
        deadline = time.monotonic() + 5
        while True:
            try:
                chats.append(limited_stack.chat(user))
                break
            except InvalidStatus:  # $disconnect runs after the close: wait for it
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with limited_stack.chat(new_user()) as other:  # other users are not affected
            other.ping()
    finally:
        for chat in chats:
            chat.close()


def test_acks_are_the_route_response_one_post_fewer_per_send(limited_stack: Stack) -> None:
    log = limited_stack.extra["data_dir"] / "dev.log"
    before = emf_totals(log)
    a, b = new_user(), new_user()
    with limited_stack.chat(a) as chat_a, limited_stack.chat(b) as chat_b:
        assert chat_a.send(b, "one post: the push")["type"] == "ack"
        chat_b.expect("message")
    delta = {n: v - before.get(n, 0) for n, v in emf_totals(log).items()}
    assert delta.get("AnswersReturned") == 1 and delta.get("AnswersPosted", 0) == 0
    assert delta.get("MessagesPushed") == 1


@pytest.fixture(scope="module")
def one_way_stack(
    tmp_path_factory: pytest.TempPathFactory, mongo_service: Service, redis_service: Service
) -> Iterator[Stack]:
    """As plain `chalice deploy` leaves API Gateway: no route response on $default."""
    env = {
        "MONGODB_URI": mongo_service.url,
        "MONGODB_DATABASE": "one_way",
        "REDIS_URL": redis_service.url,
        "POWERTOOLS_METRICS_DISABLED": "false",
    }
    with running_stack(
        tmp_path_factory.mktemp("one-way"), env, args=("--no-route-responses",)
    ) as stack:
        yield stack


def test_without_a_route_response_acks_are_posted(one_way_stack: Stack) -> None:
    log = one_way_stack.extra["data_dir"] / "dev.log"
    a, b = new_user(), new_user()
    with one_way_stack.chat(a) as chat_a, one_way_stack.chat(b) as chat_b:
        assert chat_a.send(b, "two posts: push and ack")["type"] == "ack"
        chat_b.expect("message")
        chat_a.send_frame({"action": "read", "message_ids": ["0" * 24]})
        chat_a.ping()
        assert chat_a.pending(done=True) == []  # one-way: nothing it was not asked for
    totals = emf_totals(log)
    assert totals.get("AnswersPosted") == 2 and not totals.get("AnswersReturned")
