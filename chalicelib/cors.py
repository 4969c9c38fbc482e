"""CORS for the REST routes, with an allow-list of origins from configuration.

Chalice's own CORSConfig takes a single origin; browsers need the *matching* origin
echoed back, so preflights (OPTIONS) and responses are handled here. An origin not on
the list gets no CORS headers (and a preflight from it a 403), so the browser blocks
the call. `*` is accepted for local use only; deployed stages list their origins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from chalice.app import Request, Response

ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
MAX_AGE_SECONDS = "600"


def _origin(request: Request) -> str | None:
    origin = request.headers.get("origin") if request.headers else None
    return origin if isinstance(origin, str) and origin else None


def allowed_origin(request: Request, allow: Sequence[str]) -> str | None:
    origin = _origin(request)
    if origin is None or not allow:
        return None
    if "*" in allow or origin in allow:
        return origin
    return None


def preflight(request: Request, allow: Sequence[str]) -> Response:
    """Answer an OPTIONS preflight: 204 with the CORS grant, or 403."""
    origin = allowed_origin(request, allow)
    if origin is None:
        return Response(
            body=json.dumps({"error": "origin not allowed"}),
            status_code=403,
            headers={"Content-Type": "application/json", "Vary": "Origin"},
        )
    return Response(
        body="",
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": MAX_AGE_SECONDS,
            "Vary": "Origin",
        },
    )


def middleware(allow: Callable[[], Sequence[str]]) -> Callable[..., Response]:
    """Chalice 'http' middleware: grant CORS on every response to an allowed origin,
    errors included, so a browser client can read why it was refused."""

    def add_cors(request: Request, get_response: Callable[[Request], Response]) -> Response:
        response = get_response(request)
        origin = allowed_origin(request, allow())
        if origin is not None and request.method != "OPTIONS":
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    return add_cors
