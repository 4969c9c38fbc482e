"""Pure translation of handler results into answers: handshake, REST, rest-json errors,
and the frame of a route response.

Kept apart from the server so each rule of the spec's handshake and management API
tables is unit-tested without sockets.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Headers = tuple[tuple[str, str], ...]

_JSON = ("Content-Type", "application/json")
# Hop-by-hop or framing headers a handler result must not dictate.
_DROPPED_HEADERS = frozenset({"content-length", "connection", "transfer-encoding", "upgrade"})


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Headers = ()
    body: bytes = b""


@dataclass(frozen=True)
class Handshake:
    """What to do with a WebSocket upgrade once $connect has answered."""

    accept: bool
    subprotocol: str | None = None
    denial: HttpAnswer = field(default_factory=lambda: HttpAnswer(403))


def json_answer(status: int, payload: Any, extra: Iterable[tuple[str, str]] = ()) -> HttpAnswer:
    return HttpAnswer(status, (_JSON, *extra), json.dumps(payload).encode())


def error_answer(status: int, error_type: str, message: str, request_id: str) -> HttpAnswer:
    """A rest-json error botocore maps to a modeled exception (GoneException, ...).

    Without `x-amzn-ErrorType` botocore raises a generic ClientError and Chalice never
    turns a 410 into WebsocketDisconnectedError.
    """
    return json_answer(
        status,
        {"message": message},
        (("x-amzn-ErrorType", error_type), ("x-amzn-RequestId", request_id)),
    )


HANDSHAKE_ERROR = Handshake(False, denial=json_answer(500, {"message": "Internal server error"}))
HANDSHAKE_TIMEOUT = Handshake(
    False, denial=json_answer(504, {"message": "Endpoint request timed out"})
)
HANDSHAKE_THROTTLED = Handshake(False, denial=json_answer(429, {"message": "Too Many Requests"}))
HANDSHAKE_ACCEPT = Handshake(True)


def _result_headers(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A Lambda proxy result's headers and multiValueHeaders (the latter wins a clash)."""
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    clashing = {name.lower() for name in multi}
    headers = [(str(k), str(v)) for k, v in single.items() if k.lower() not in clashing]
    headers.extend((str(k), str(v)) for k, values in multi.items() for v in values)
    return [(k, v) for k, v in headers if k.lower() not in _DROPPED_HEADERS]


def _result_body(result: Mapping[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if result.get("isBase64Encoded"):
        return base64.b64decode(body)
    if isinstance(body, bytes):
        return body
    return str(body).encode("utf-8")


def _with_default_content_type(headers: list[tuple[str, str]], body: bytes) -> Headers:
    if body and not any(name.lower() == "content-type" for name, _ in headers):
        headers = [_JSON, *headers]
    return tuple(headers)


def handshake_from_result(result: Any) -> Handshake:
    """Accept on 2xx (echoing Sec-WebSocket-Protocol), otherwise deny with that status."""
    if not isinstance(result, Mapping):
        # Chalice's wrapper always returns a dict; anything else is a plain 200.
        return HANDSHAKE_ACCEPT
    try:
        status = int(result.get("statusCode", 200))
    except (TypeError, ValueError):
        return HANDSHAKE_ERROR
    headers = _result_headers(result)
    if 200 <= status < 300:
        protocols = [v for k, v in headers if k.lower() == "sec-websocket-protocol"]
        return Handshake(True, subprotocol=protocols[-1] if protocols else None)
    if not 100 <= status < 600:
        return HANDSHAKE_ERROR
    body = _result_body(result)
    return Handshake(
        False, denial=HttpAnswer(status, _with_default_content_type(headers, body), body)
    )


def rest_answer(result: Mapping[str, Any]) -> HttpAnswer:
    """The HTTP response for a Chalice REST result (content type defaults as chalice local)."""
    body = _result_body(result)
    headers = _result_headers(result)
    return HttpAnswer(int(result["statusCode"]), _with_default_content_type(headers, body), body)


class MalformedRouteResponseError(ValueError):
    """A Lambda proxy result API Gateway could not turn into a route response frame."""


def route_response_frame(result: Any, max_bytes: int) -> str | bytes:
    """The frame a two-way route sends back: the Lambda proxy result's `body`.

    AWS: with a route response, "the body of your Lambda function" is returned to the
    client (apigateway-websocket-api-route-response.html) and a proxy integration's
    output is passed on whole, with no integration response (statusCode is not
    consulted). Not documented, so choices: a missing or null body is an empty text
    frame (what users report from AWS, serverless/serverless#6816); a base64 body is
    decoded and sent as text when it is UTF-8, binary otherwise (as PostToConnection);
    a body that is not a string, or a frame over the message quota, is malformed --
    the caller sends the "Internal server error" frame, as a REST API answers a
    malformed proxy response with 502.
    """
    if not isinstance(result, Mapping):
        raise MalformedRouteResponseError("the handler did not return an object")
    body = result.get("body")
    if body is None:
        return ""
    if not isinstance(body, str):
        raise MalformedRouteResponseError(f"body is a {type(body).__name__}, not a string")
    frame: str | bytes = body
    if result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise MalformedRouteResponseError("body is not valid base64") from exc
        try:
            frame = data.decode("utf-8")
        except UnicodeDecodeError:
            frame = data
    size = len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8"))
    if size > max_bytes:
        raise MalformedRouteResponseError(f"body of {size} bytes is over the message quota")
    return frame


def rest_error_answer(status: int, headers: Mapping[str, Any], body: bytes | None) -> HttpAnswer:
    """chalice.local.LocalGatewayException (missing route, authorizer denial) as HTTP."""
    pairs = [(str(k), str(v)) for k, v in headers.items()]
    return HttpAnswer(status, _with_default_content_type(pairs, body or b""), body or b"")
