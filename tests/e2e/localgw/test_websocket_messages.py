"""Message routing, handler results and failures, environment and context."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from infra.localgw import LocalGateway
from tests.e2e.localgw.helpers import (
    events_of,
    pid_alive,
    recv_json,
    wait_for,
    whoami,
    ws_connect,
)


def test_echo_through_websocket_api_send(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        body = json.dumps({"action": "echo", "data": "hello"})
        ws.send(body)
        assert ws.recv(timeout=5) == body


def test_message_event_carries_body_and_a_new_message_id(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        ws.send("first")
        ws.recv(timeout=5)
        ws.send("")
        ws.recv(timeout=5)
    messages = [
        e
        for e in events_of(gateway.urls, connection_id)
        if e["requestContext"]["eventType"] == "MESSAGE"
    ]
    assert [m["body"] for m in messages] == ['{"action": "whoami"}', "first", ""]
    assert len({m["requestContext"]["messageId"] for m in messages}) == 3
    for message in messages:
        assert message["requestContext"]["routeKey"] == "$default"
        assert "headers" not in message


def test_messages_of_one_connection_are_handled_in_order(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        for n in range(30):
            ws.send(f"m{n}")
        assert [ws.recv(timeout=5) for _ in range(30)] == [f"m{n}" for n in range(30)]


def test_handler_return_value_is_not_sent_to_the_client(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "return"}))
        ws.send("after")
        # The next frame is the echo of "after", not the handler's return value.
        assert ws.recv(timeout=5) == "after"


def test_raising_handler_gets_an_error_frame_and_the_connection_survives(
    gateway: LocalGateway,
) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        ws.send(json.dumps({"action": "raise"}))
        frame = recv_json(ws)
        assert frame["message"] == "Internal server error"
        assert frame["connectionId"] == connection_id
        assert len(frame["requestId"]) == 16
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


def test_handler_over_integration_timeout_gets_an_error_frame(gateway: LocalGateway) -> None:
    # Given the shared gateway's 1 s integration timeout and a handler sleeping 1.3 s
    with ws_connect(gateway.urls.ws_url) as slow, ws_connect(gateway.urls.ws_url) as other:
        slow.send(json.dumps({"action": "count"}))
        slow_pid = recv_json(slow)["pid"]
        slow.send(json.dumps({"action": "sleep", "seconds": 1.3}))
        # Then other connections are served meanwhile
        other.send("not blocked")
        assert other.recv(timeout=0.9) == "not blocked"
        # And the slow one gets the timeout frame
        assert recv_json(slow)["message"] == "Endpoint request timed out"
        if gateway.runtime == "threads":
            # And the handler, like a Lambda API Gateway stopped waiting for, still
            # finishes (a thread cannot be stopped)
            assert recv_json(slow) == {"slept": 1.3}
        else:
            # And its container was killed: the next message gets another one
            wait_for(lambda: not pid_alive(slow_pid), what=f"container {slow_pid} to die")
            slow.send(json.dumps({"action": "count"}))
            assert recv_json(slow)["pid"] != slow_pid
        slow.send("next")
        assert slow.recv(timeout=5) == "next"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EXAMPLE_TOP_VAR", "top"),
        ("EXAMPLE_STAGE_VAR", "dev"),
        ("EXAMPLE_FUNCTION_VAR", "message"),
        ("AWS_REGION", "us-east-1"),
    ],
)
def test_message_handler_sees_its_function_environment(
    gateway: LocalGateway, name: str, expected: str
) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "env", "names": [name]}))
        assert recv_json(ws) == {name: expected}


def test_handler_gets_a_lambda_context(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "context"}))
        context = recv_json(ws)
    assert context["function_name"] == "localgw-example-dev-websocket_message"
    assert context["memory_limit_in_mb"] == 128
    assert 0 < context["remaining_ms"] <= 60_000


def test_management_url_is_offered_to_apps_building_their_own_client(
    gateway: LocalGateway,
) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "env", "names": ["LOCALGW_MANAGEMENT_URL"]}))
        assert recv_json(ws) == {"LOCALGW_MANAGEMENT_URL": gateway.urls.management_url}


def test_extra_environment_with_bound_urls_and_config_precedence(
    start_gateway: Callable[..., LocalGateway],
) -> None:
    # Given values passed to the gateway, one naming a URL only known once it is bound
    gw = start_gateway(
        env={"APP_MANAGEMENT_URL": "{management_url}", "EXAMPLE_STAGE_VAR": "from --env"}
    )
    with ws_connect(gw.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "env", "names": ["APP_MANAGEMENT_URL", "EXAMPLE_STAGE_VAR"]}))
        # Then handlers see them, and .chalice/config.json still wins a clash
        assert recv_json(ws) == {
            "APP_MANAGEMENT_URL": gw.urls.management_url,
            "EXAMPLE_STAGE_VAR": "dev",
        }


def test_gateway_environment_does_not_leak_into_the_test_process(gateway: LocalGateway) -> None:
    assert "EXAMPLE_FUNCTION_VAR" not in os.environ
    assert "LOCALGW_MANAGEMENT_URL" not in os.environ
