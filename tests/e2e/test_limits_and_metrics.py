"""A stack with a low send limit and metrics on: the limit is an error frame that stores
nothing, and the counts operators watch come out as CloudWatch EMF lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
    assert [m["content"] for m in limited_stack.all_unread(b)] == ["m0", "m1", "m2"]


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
