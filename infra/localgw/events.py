"""Pure builders of the Lambda events API Gateway sends to WebSocket handlers.

No I/O and no clock reads: callers pass ids and times in, so every shape is unit-tested
against the AWS captures Powertools' Parser models were written from
(shared/specs/local-gateway.md, "Events"). The socket server lives elsewhere.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

CONNECT_ROUTE = "$connect"
DISCONNECT_ROUTE = "$disconnect"
DEFAULT_ROUTE = "$default"
_SPECIAL_ROUTES = frozenset({CONNECT_ROUTE, DISCONNECT_ROUTE, DEFAULT_ROUTE})

# Error frames API Gateway sends to the client ("choice" rows of the spec).
INTERNAL_ERROR = "Internal server error"
TIMEOUT_ERROR = "Endpoint request timed out"
NO_ROUTE_ERROR = "Forbidden"

_ID_ALPHABET = string.ascii_letters + string.digits
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MAX_ID_LENGTH = 128

Event = dict[str, Any]


def new_id(random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A 16-character base64-looking id ending in '=' ("BFaVtfGSIAMCKug=").

    Used for connection, request and message ids. Letters and digits only, so the id
    never needs escaping in a URL path (no '/' or '+'). One call for the randomness:
    this runs for every request the gateway serves.
    """
    return "".join(_ID_ALPHABET[byte % len(_ID_ALPHABET)] for byte in random_bytes(15)) + "="


def is_well_formed_connection_id(connection_id: str) -> bool:
    """Whether an id could name a connection at all; anything else is a bad request."""
    return (
        0 < len(connection_id) <= _MAX_ID_LENGTH
        and connection_id.isascii()
        and connection_id.isprintable()
        and not any(ch in connection_id for ch in "/ ")
    )


def epoch_millis(epoch_seconds: float) -> int:
    return round(epoch_seconds * 1000)


def request_time(epoch_seconds: float) -> str:
    """Common Log Format, always in English and UTC: '11/Nov/2024:11:35:24 +0000'."""
    t = time.gmtime(epoch_seconds)
    day = f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}"
    return f"{day}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def iso8601(epoch_seconds: float) -> str:
    """'2024-11-11T13:45:35.513Z', how the management API writes timestamps."""
    seconds, millis = divmod(epoch_millis(epoch_seconds), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


@dataclass(frozen=True)
class ConnectionFacts:
    """What every event of one connection repeats in its requestContext."""

    connection_id: str
    connected_at: float
    source_ip: str
    domain_name: str
    stage: str
    api_id: str
    user_agent: str | None = None


def group_headers(raw: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """headers (last value wins) and multiValueHeaders, keeping the client's casing.

    Names differing only in case are one header, named as the client first spelled it.
    """
    spelled: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in raw:
        key = spelled.setdefault(name.lower(), name)
        multi.setdefault(key, []).append(value)
    single = {key: values[-1] for key, values in multi.items()}
    return single, multi


def query_parameters(query_string: str) -> dict[str, Any]:
    """The two query keys of a $connect event, or nothing when the URL has no query."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    if not pairs:
        return {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    return {
        "queryStringParameters": {name: values[-1] for name, values in multi.items()},
        "multiValueQueryStringParameters": multi,
    }


def _request_context(
    facts: ConnectionFacts, route_key: str, event_type: str, request_id: str, now: float
) -> dict[str, Any]:
    identity = {"sourceIp": facts.source_ip}
    if facts.user_agent is not None:
        identity["userAgent"] = facts.user_agent
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now),
        "messageDirection": "IN",
        "stage": facts.stage,
        "connectedAt": epoch_millis(facts.connected_at),
        "requestTimeEpoch": epoch_millis(now),
        "identity": identity,
        "requestId": request_id,
        "domainName": facts.domain_name,
        "connectionId": facts.connection_id,
        "apiId": facts.api_id,
    }


def connect_event(
    facts: ConnectionFacts,
    headers: Iterable[tuple[str, str]],
    query_string: str,
    request_id: str,
    now: float,
) -> Event:
    single, multi = group_headers(headers)
    event: Event = {"headers": single, "multiValueHeaders": multi}
    event.update(query_parameters(query_string))
    event["requestContext"] = _request_context(facts, CONNECT_ROUTE, "CONNECT", request_id, now)
    event["isBase64Encoded"] = False
    return event


def message_event(
    facts: ConnectionFacts,
    body: str,
    route_key: str,
    request_id: str,
    message_id: str,
    now: float,
) -> Event:
    context = _request_context(facts, route_key, "MESSAGE", request_id, now)
    context["messageId"] = message_id
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(
    facts: ConnectionFacts, status_code: int, reason: str, request_id: str, now: float
) -> Event:
    # What AWS sends on $disconnect: no client headers any more, only these four.
    single, multi = group_headers(
        [("Host", facts.domain_name), ("x-api-key", ""), ("X-Forwarded-For", ""), ("x-restapi", "")]
    )
    context = _request_context(facts, DISCONNECT_ROUTE, "DISCONNECT", request_id, now)
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": context,
        "isBase64Encoded": False,
    }


def disconnect_reason(code: int, reason: str) -> str:
    """disconnectReason: the close frame's reason, or what AWS says when there is none."""
    if reason:
        return reason
    if code == 1005:
        return "Client-side close frame status not set"
    if code == 1006:
        return "Connection closed abnormally"
    return ""


def select_route_key(body: str, route_keys: Collection[str]) -> str | None:
    """Route selection on `$request.body.action`; None when nothing would handle it."""
    custom = [key for key in route_keys if key not in _SPECIAL_ROUTES]
    if custom:
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError):
            action = None
        if isinstance(action, str) and action in custom:
            return action
    return DEFAULT_ROUTE if DEFAULT_ROUTE in route_keys else None


def error_frame(message: str, connection_id: str, request_id: str) -> str:
    """The JSON frame API Gateway sends the client when an integration fails."""
    return json.dumps({"message": message, "connectionId": connection_id, "requestId": request_id})
