"""REST routes: POST /api/v1/messages/unread and /api/v1/messages/mark-read.

The caller is the token's user; a `user_id` in the body must equal it (403 otherwise).
Every body is parsed into a strict model first, so a malformed or hostile request is a
400 that changed nothing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response

from chalicelib.auth import bearer_token
from chalicelib.deps import Services
from chalicelib.errors import Forbidden, Unauthorized, http_error_body
from chalicelib.models import MarkReadBody, MarkReadRequest, UnreadPageBody, UnreadRequest
from chalicelib.observability import count, refusal
from chalicelib.validation import parse_body

Handler = Callable[[Request, Services], Response]


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": "application/json"},
    )


def endpoint(handler: Handler) -> Handler:
    """Map our errors to their statuses, and anything else to a bare 500."""

    @functools.wraps(handler)
    def wrapper(request: Request, services: Services) -> Response:
        try:
            return handler(request, services)
        except Exception as exc:
            err = refusal(exc)
            return json_response(http_error_body(err), err.status)

    return wrapper


def uniform_errors(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice middleware: Chalice's own refusals (415 for a body that is not JSON, 405)
    come as {"Code", "Message"}; clients get every error as {"error": text}."""
    response = get_response(request)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        response.body = json.dumps({"error": str(body["Message"])})
        response.headers["Content-Type"] = "application/json"
    return response


def authenticate(request: Request, services: Services) -> int:
    token = bearer_token(request.headers or {})
    try:
        if token is None:
            raise Unauthorized("missing bearer token")
        return services.verifier.user_of(token)
    except Unauthorized:
        count("AuthFailures")
        raise


def _own(body_user: int | None, caller: int) -> None:
    if body_user is not None and body_user != caller:
        raise Forbidden("user_id does not match the token's user")


@endpoint
def unread(request: Request, services: Services) -> Response:
    caller = authenticate(request, services)
    body = parse_body(UnreadRequest, request.raw_body, services.settings.max_request_bytes)
    _own(body.user_id, caller)
    page = services.store.unread_page(
        caller, body.limit, body.cursor, max_bytes=services.settings.max_page_bytes
    )
    reply = UnreadPageBody(
        messages=page.messages, total=len(page.messages), next_cursor=page.next_cursor
    )
    return json_response(reply.wire())


@endpoint
def mark_read(request: Request, services: Services) -> Response:
    caller = authenticate(request, services)
    body = parse_body(MarkReadRequest, request.raw_body, services.settings.max_request_bytes)
    _own(body.user_id, caller)
    updated = services.store.mark_read(caller, body.message_ids)
    count("MessagesMarkedRead", updated)
    return json_response(MarkReadBody(updated=updated).model_dump())
