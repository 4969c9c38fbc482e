"""Event builders: shapes from AWS captures, checked against Powertools' Parser models."""

from __future__ import annotations

import calendar
import json
import re

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from infra.localgw.events import (
    ConnectionFacts,
    connect_event,
    disconnect_event,
    disconnect_reason,
    error_frame,
    group_headers,
    is_well_formed_connection_id,
    iso8601,
    message_event,
    new_id,
    query_parameters,
    request_time,
    select_route_key,
)

# 11/Nov/2024:13:45:46.514 UTC, the time of Powertools' message capture.
NOW = calendar.timegm((2024, 11, 11, 13, 45, 46)) + 0.514
FACTS = ConnectionFacts(
    connection_id="BFaT1fALIAMCKug=",
    connected_at=NOW - 10.999,
    source_ip="127.0.0.1",
    domain_name="127.0.0.1:8080",
    stage="api",
    api_id="abcdef1234",
    user_agent="client/1.0",
)
HEADERS = [
    ("Host", "127.0.0.1:8080"),
    ("Sec-WebSocket-Key", "k=="),
    ("X-Multi", "a"),
    ("x-multi", "b"),
]


def test_new_id_looks_like_an_api_gateway_id() -> None:
    for _ in range(200):
        assert re.fullmatch(r"[A-Za-z0-9]{15}=", new_id())


def test_new_id_uses_the_given_randomness() -> None:
    assert new_id(lambda n: bytes(range(n))) == "abcdefghijklmno="
    assert new_id(lambda n: bytes([61, 62] * 8)[:n]) == "9a9a9a9a9a9a9a9="


@pytest.mark.parametrize(
    ("connection_id", "well_formed"),
    [("BFaT1fALIAMCKug=", True), ("stale-id", True), ("", False), ("a/b", False),
     ("a b", False), ("é", False), ("x" * 129, False)],
)  # fmt: skip
def test_is_well_formed_connection_id(connection_id: str, well_formed: bool) -> None:
    assert is_well_formed_connection_id(connection_id) is well_formed


def test_request_time_is_common_log_format_in_utc() -> None:
    assert request_time(NOW) == "11/Nov/2024:13:45:46 +0000"
    assert request_time(calendar.timegm((2025, 1, 2, 3, 4, 5))) == "02/Jan/2025:03:04:05 +0000"


def test_iso8601_has_milliseconds_and_z() -> None:
    assert iso8601(NOW) == "2024-11-11T13:45:46.514Z"


def test_group_headers_keeps_first_spelling_and_every_value() -> None:
    single, multi = group_headers(HEADERS)
    assert single == {"Host": "127.0.0.1:8080", "Sec-WebSocket-Key": "k==", "X-Multi": "b"}
    assert multi["X-Multi"] == ["a", "b"]
    assert multi["Host"] == ["127.0.0.1:8080"]


def test_query_parameters_only_when_there_is_a_query() -> None:
    assert query_parameters("") == {}
    assert query_parameters("token=a%20b&tag=1&tag=2&empty=") == {
        "queryStringParameters": {"token": "a b", "tag": "2", "empty": ""},
        "multiValueQueryStringParameters": {"token": ["a b"], "tag": ["1", "2"], "empty": [""]},
    }


def test_connect_event_shape() -> None:
    event = connect_event(FACTS, HEADERS, "token=abc", "QyGvhHmvIAMF9Qg=", NOW)
    model = APIGatewayWebSocketConnectEventModel.model_validate(event)
    context = event["requestContext"]
    assert context == {
        "routeKey": "$connect",
        "eventType": "CONNECT",
        "extendedRequestId": "QyGvhHmvIAMF9Qg=",
        "requestTime": "11/Nov/2024:13:45:46 +0000",
        "messageDirection": "IN",
        "stage": "api",
        "connectedAt": 1731332735515,
        "requestTimeEpoch": 1731332746514,
        "identity": {"sourceIp": "127.0.0.1", "userAgent": "client/1.0"},
        "requestId": "QyGvhHmvIAMF9Qg=",
        "domainName": "127.0.0.1:8080",
        "connectionId": "BFaT1fALIAMCKug=",
        "apiId": "abcdef1234",
    }
    assert event["queryStringParameters"] == {"token": "abc"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    assert model.request_context.identity.user_agent == "client/1.0"


def test_connect_event_without_query_or_user_agent() -> None:
    facts = ConnectionFacts("BFaT1fALIAMCKug=", NOW, "10.0.0.1", "h:1", "api", "abcdef1234")
    event = connect_event(facts, HEADERS, "", "r", NOW)
    APIGatewayWebSocketConnectEventModel.model_validate(event)
    assert "queryStringParameters" not in event
    assert "multiValueQueryStringParameters" not in event
    assert event["requestContext"]["identity"] == {"sourceIp": "10.0.0.1"}


def test_message_event_shape() -> None:
    event = message_event(
        FACTS, '{"action": "x"}', "$default", "req0000000000AA=", "msg0000000000AA=", NOW
    )
    APIGatewayWebSocketMessageEventModel.model_validate(event)
    assert event["body"] == '{"action": "x"}'
    assert event["requestContext"]["messageId"] == "msg0000000000AA="
    assert event["requestContext"]["eventType"] == "MESSAGE"
    assert "headers" not in event


def test_message_event_keeps_an_empty_body() -> None:
    # Chalice turns a missing body into the string "None": never send one without it.
    event = message_event(FACTS, "", "$default", "r", "m", NOW)
    assert event["body"] == ""


def test_disconnect_event_shape() -> None:
    event = disconnect_event(FACTS, 1005, "Client-side close frame status not set", "r", NOW)
    APIGatewayWebSocketDisconnectEventModel.model_validate(event)
    assert event["headers"]["Host"] == "127.0.0.1:8080"
    assert event["multiValueHeaders"]["Host"] == ["127.0.0.1:8080"]
    assert event["requestContext"]["disconnectStatusCode"] == 1005
    assert event["requestContext"]["routeKey"] == "$disconnect"


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (1005, "", "Client-side close frame status not set"),
        (1006, "", "Connection closed abnormally"),
        (1000, "bye", "bye"),
        (1001, "", ""),
    ],
)
def test_disconnect_reason(code: int, reason: str, expected: str) -> None:
    assert disconnect_reason(code, reason) == expected


@pytest.mark.parametrize(
    ("body", "route_keys", "expected"),
    [
        ('{"action": "chat"}', {"$default", "chat"}, "chat"),
        ('{"action": "other"}', {"$default", "chat"}, "$default"),
        ("not json", {"$default", "chat"}, "$default"),
        ("[1, 2]", {"$default", "chat"}, "$default"),
        ('{"action": "$connect"}', {"$connect", "$default"}, "$default"),
        ('{"action": "chat"}', {"$connect"}, None),
        ('{"action": 5}', {"$default", "5"}, "$default"),
    ],
)
def test_select_route_key(body: str, route_keys: set[str], expected: str | None) -> None:
    assert select_route_key(body, route_keys) == expected


def test_error_frame() -> None:
    assert json.loads(error_frame("Internal server error", "c", "r")) == {
        "message": "Internal server error",
        "connectionId": "c",
        "requestId": "r",
    }
