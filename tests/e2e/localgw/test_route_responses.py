"""Route responses (two-way routes): only when configured, the result's body is a frame."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.localgw import LocalGateway
from tests.e2e.localgw.helpers import recv_json, whoami, ws_connect


@pytest.fixture(scope="module")
def two_way(start_module_gateway: Callable[..., LocalGateway]) -> LocalGateway:
    return start_module_gateway(route_responses={"$default"})


def _reply_with(gateway: LocalGateway, result: Any) -> str | bytes:
    with ws_connect(gateway.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "reply_with", "result": result}))
        return ws.recv(timeout=5)


def test_without_a_route_response_the_body_is_not_sent(gateway: LocalGateway) -> None:
    # Given the default configuration (Chalice creates no route responses)
    with ws_connect(gateway.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "reply", "data": 1}))
        ws.send("after")
        # Then the next frame is the echo of "after", not the handler's body
        assert ws.recv(timeout=5) == "after"


def test_configured_route_sends_the_body_back(two_way: LocalGateway) -> None:
    with ws_connect(two_way.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "reply", "data": "pong"}))
        assert recv_json(ws) == {"reply": "pong"}


def test_frames_the_handler_posted_come_before_its_route_response(two_way: LocalGateway) -> None:
    with ws_connect(two_way.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "reply", "before": "pushed first", "data": "then me"}))
        assert ws.recv(timeout=5) == "pushed first"
        assert recv_json(ws) == {"reply": "then me"}


def test_status_code_does_not_stop_the_body(two_way: LocalGateway) -> None:
    assert _reply_with(two_way, {"statusCode": 500, "body": "failed"}) == "failed"


def test_missing_body_is_an_empty_frame(two_way: LocalGateway) -> None:
    # Chalice turns a handler returning None into {"statusCode": 200}
    assert _reply_with(two_way, None) == ""


def test_base64_body_is_decoded(two_way: LocalGateway) -> None:
    binary = {
        "statusCode": 200,
        "body": base64.b64encode(b"\xff\x00").decode(),
        "isBase64Encoded": True,
    }
    assert _reply_with(two_way, binary) == b"\xff\x00"
    text = {"statusCode": 200, "body": base64.b64encode(b"hi").decode(), "isBase64Encoded": True}
    assert _reply_with(two_way, text) == "hi"


def test_body_that_is_not_a_string_is_an_internal_error(two_way: LocalGateway) -> None:
    with ws_connect(two_way.urls.ws_url) as ws:
        connection_id = whoami(ws)
        ws.recv(timeout=5)  # whoami's own (empty) route response
        ws.send(json.dumps({"action": "reply_with", "result": {"body": {"not": "a string"}}}))
        frame = recv_json(ws)
    assert frame["message"] == "Internal server error"
    assert frame["connectionId"] == connection_id


def test_route_responses_cannot_be_set_on_connect_or_disconnect() -> None:
    with pytest.raises(ValueError, match=r"\$connect"):
        LocalGateway("unused", route_responses={"$connect"})
