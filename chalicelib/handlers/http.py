"""What every REST route shares: JSON responses, and errors mapped to statuses in one
place (ours, Chalice's own, and anything unexpected as a bare 500)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Request, Response

from chalicelib.errors import http_error_body, http_error_headers
from chalicelib.observability import refusal

if TYPE_CHECKING:
    from chalicelib.deps import Services

Handler = Callable[[Request, "Services"], Response]


def json_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def endpoint(handler: Handler) -> Handler:
    """Map our errors to their statuses, and anything else to a bare 500."""

    @functools.wraps(handler)
    def wrapper(request: Request, services: Services) -> Response:
        try:
            return handler(request, services)
        except Exception as exc:
            err = refusal(exc)
            return json_response(http_error_body(err), err.status, http_error_headers(err))

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
