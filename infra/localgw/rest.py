"""The app's REST API: every HTTP request no other route claims, with or without `/{stage}`.

Requests are served by `chalice.local.LocalGateway.handle_request` (route matching,
authorizers, CORS preflight, as `chalice local` and `chalice.test` do) by the
invoker, under the integration timeout like the WebSocket routes. Bodies are read within
API Gateway's payload quota (10 MB): a declared or counted size over it is a 413
before the rest is read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chalice.local import RouteMatcher
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from infra.localgw.core import GatewayCore, IntegrationTimeoutError
from infra.localgw.quotas import BODY_TOO_LARGE, ClientGoneError, read_capped_body
from infra.localgw.responses import HttpAnswer, json_answer
from infra.localgw.websocket import send_denial

logger = logging.getLogger(__name__)


def resolve_rest_path(path: str, stage: str, has_route: Callable[[str], bool]) -> str:
    """Strip a leading `/{stage}` -- unless only the unstripped path names a route
    (an app with its own `/api/...` routes on stage `api`)."""
    prefix = f"/{stage}"
    if path == prefix or path.startswith(prefix + "/"):
        stripped = path[len(prefix) :] or "/"
        if has_route(stripped) or not has_route(path):
            return stripped
    return path


class RestProxy:
    def __init__(self, core: GatewayCore) -> None:
        self._core = core
        self._matcher = RouteMatcher(core.invoker.rest_routes)

    def _has_route(self, path: str) -> bool:
        try:
            self._matcher.match_route(path)
        except ValueError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # An upgrade on any path but /{stage}: API Gateway answers 403.
            await send_denial(send, json_answer(403, {"message": "Forbidden"}))
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            body = await read_capped_body(
                receive, scope["headers"], self._core.limits.max_rest_body_bytes
            )
        except ClientGoneError:
            return
        if body is None:
            logger.warning("REST request body too large", extra={"method": request.method})
            answer = BODY_TOO_LARGE
        else:
            answer = await self._serve(request, body)
        await send_answer(send, answer)

    async def _serve(self, request: Request, body: bytes) -> HttpAnswer:
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        path = resolve_rest_path(raw_path.decode("latin-1"), self._core.stage, self._has_route)
        query = request.scope["query_string"].decode("latin-1")
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        started = time.perf_counter()
        try:
            answer = await self._core.invoker.serve_rest(
                request.method, f"{path}?{query}" if query else path, headers, body or None
            )
        except IntegrationTimeoutError:
            answer = json_answer(504, {"message": "Endpoint request timed out"})
        except Exception:
            logger.exception("REST handler failed", extra={"method": request.method, "path": path})
            answer = json_answer(502, {"message": "Internal server error"})
        # The path only: query strings may carry tokens.
        logger.info(
            "rest request",
            extra={
                "method": request.method,
                "path": path,
                "status": answer.status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return answer


async def send_answer(send: Send, answer: HttpAnswer) -> None:
    """Write an HttpAnswer as the ASGI HTTP response."""
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                (b"content-length", str(len(answer.body)).encode()),
                *((k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})
