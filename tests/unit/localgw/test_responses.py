"""Handshake decisions, REST results and rest-json errors, without sockets."""

from __future__ import annotations

import base64
import json

import pytest

from infra.localgw.responses import (
    HANDSHAKE_ERROR,
    MalformedRouteResponseError,
    error_answer,
    handshake_from_result,
    rest_answer,
    rest_error_answer,
    route_response_frame,
)
from infra.localgw.rest import resolve_rest_path


def test_2xx_accepts() -> None:
    assert handshake_from_result({"statusCode": 200}).accept
    assert handshake_from_result({"statusCode": "204"}).accept


def test_non_dict_result_accepts() -> None:
    assert handshake_from_result(None).accept


def test_accept_echoes_the_subprotocol_header_whatever_its_case() -> None:
    result = {"statusCode": 200, "headers": {"sec-websocket-protocol": "chat.v1"}}
    assert handshake_from_result(result).subprotocol == "chat.v1"
    multi = {"statusCode": 200, "multiValueHeaders": {"Sec-WebSocket-Protocol": ["chat.v2"]}}
    assert handshake_from_result(multi).subprotocol == "chat.v2"


@pytest.mark.parametrize("status", [301, 400, 401, 403, 429, 500, 503])
def test_non_2xx_denies_with_that_status(status: int) -> None:
    handshake = handshake_from_result({"statusCode": status, "body": '{"why": "no"}'})
    assert not handshake.accept
    assert handshake.denial.status == status
    assert handshake.denial.body == b'{"why": "no"}'
    assert ("Content-Type", "application/json") in handshake.denial.headers


@pytest.mark.parametrize("status", ["abc", 42, 700, None])
def test_unusable_status_is_a_500(status: object) -> None:
    assert handshake_from_result({"statusCode": status}) == HANDSHAKE_ERROR


def test_denial_drops_framing_headers() -> None:
    handshake = handshake_from_result(
        {"statusCode": 403, "headers": {"Content-Length": "99", "X-Why": "token"}}
    )
    assert handshake.denial.headers == (("X-Why", "token"),)


def test_rest_answer_from_a_chalice_result() -> None:
    answer = rest_answer(
        {
            "statusCode": 201,
            "headers": {"X-One": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": '{"ok": true}',
        }
    )
    assert answer.status == 201
    assert answer.body == b'{"ok": true}'
    assert answer.headers == (
        ("Content-Type", "application/json"),
        ("X-One", "1"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    )


def test_rest_answer_decodes_base64_bodies_and_keeps_the_content_type() -> None:
    answer = rest_answer(
        {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png"},
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
        }
    )
    assert answer.body == b"\x89PNG"
    assert answer.headers == (("Content-Type", "image/png"),)


def test_rest_error_answer() -> None:
    answer = rest_error_answer(403, {"x-amzn-ErrorType": "UnauthorizedException"}, b'{"m": 1}')
    assert answer.status == 403
    assert ("x-amzn-ErrorType", "UnauthorizedException") in answer.headers


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (410, "GoneException"),
        (413, "PayloadTooLargeException"),
        (403, "ForbiddenException"),
        (429, "LimitExceededException"),
    ],
)
def test_error_answers_name_their_type_for_botocore(status: int, error_type: str) -> None:
    answer = error_answer(status, error_type, "why", "req")
    headers = dict(answer.headers)
    assert answer.status == status
    assert headers["x-amzn-ErrorType"] == error_type
    assert headers["x-amzn-RequestId"] == "req"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(answer.body) == {"message": "why"}


@pytest.mark.parametrize(
    ("path", "routes", "expected"),
    [
        ("/api/hello", {"/hello"}, "/hello"),
        ("/hello", {"/hello"}, "/hello"),
        ("/api", {"/"}, "/"),
        ("/api/", {"/"}, "/"),
        ("/api/nested", {"/api/nested"}, "/api/nested"),
        ("/api/api/nested", {"/api/nested"}, "/api/nested"),
        ("/apiary", {"/apiary"}, "/apiary"),
        ("/api/missing", set(), "/missing"),
    ],
)
def test_resolve_rest_path(path: str, routes: set[str], expected: str) -> None:
    assert resolve_rest_path(path, "api", routes.__contains__) == expected


@pytest.mark.parametrize(
    ("result", "frame"),
    [
        ({"statusCode": 200, "body": '{"a": 1}'}, '{"a": 1}'),
        ({"statusCode": 500, "body": "failed"}, "failed"),
        ({"statusCode": 200}, ""),
        ({"statusCode": 200, "body": None}, ""),
        ({"body": base64.b64encode(b"\xff").decode(), "isBase64Encoded": True}, b"\xff"),
        ({"body": base64.b64encode("é".encode()).decode(), "isBase64Encoded": True}, "é"),
    ],
)
def test_route_response_frame_is_the_body(result: dict[str, object], frame: str | bytes) -> None:
    assert route_response_frame(result, max_bytes=1024) == frame


@pytest.mark.parametrize(
    "result",
    [
        "not an object",
        {"body": {"json": "object"}},
        {"body": 42},
        {"body": "%%%", "isBase64Encoded": True},
        {"body": "x" * 1025},
    ],
)
def test_malformed_route_responses_are_refused(result: object) -> None:
    with pytest.raises(MalformedRouteResponseError):
        route_response_frame(result, max_bytes=1024)
