"""The API Gateway Management API (`@connections`) and the gateway's test-only admin API.

Served on the event loop, never in the worker pool: handlers call it synchronously from
worker threads (`app.websocket_api.send`), so it must not wait for a free worker.
SigV4 signatures are accepted unchecked. Errors are rest-json with `x-amzn-ErrorType`
so botocore raises GoneException & co. (see responses.error_answer).

Admin API (local only, no AWS counterpart), under `/_localgw`:
  GET  /_localgw/info                           the gateway's URLs
  GET  /_localgw/connections                    open connection ids
  GET  /_localgw/workers                        the runtime and its containers
  POST /_localgw/connections/{id}/drop          close the socket WITHOUT firing $disconnect
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from infra.localgw.connections import GoneError, SendBufferFullError
from infra.localgw.core import GatewayCore
from infra.localgw.events import is_well_formed_connection_id, iso8601, new_id
from infra.localgw.quotas import ClientGoneError, read_capped_body
from infra.localgw.responses import HttpAnswer, error_answer, json_answer

logger = logging.getLogger(__name__)

DELETE_REASON = "Connection deleted by the management API"


def to_response(answer: HttpAnswer) -> Response:
    response = Response(content=answer.body, status_code=answer.status)
    for name, value in answer.headers:
        response.headers.append(name, value)
    return response


class ManagementApi:
    def __init__(self, core: GatewayCore) -> None:
        self._core = core

    async def connection(self, request: Request) -> Response:
        """POST / GET / DELETE {stage}/@connections/{id}."""
        request_id = new_id()
        stage = request.path_params["stage"]
        # Starlette matched the already-decoded path: '%40' is '@' and '%3D' is '='.
        connection_id = request.path_params["connection_id"]
        if stage != self._core.stage:
            return to_response(error_answer(403, "ForbiddenException", "Forbidden", request_id))
        if not is_well_formed_connection_id(connection_id):
            message = f"Invalid connectionId: {connection_id[:128]}"
            return to_response(error_answer(400, "BadRequestException", message, request_id))
        ok = (("x-amzn-RequestId", request_id),)
        if request.method == "POST":
            return to_response(await self._post(request, connection_id, request_id))
        connection = self._core.registry.get(connection_id)
        if connection is None:
            return to_response(_gone(request_id))
        if request.method == "GET":
            facts = connection.facts
            identity = {"sourceIp": facts.source_ip, "userAgent": facts.user_agent or ""}
            payload = {
                "connectedAt": iso8601(facts.connected_at),
                "identity": identity,
                "lastActiveAt": iso8601(connection.last_active_at),
            }
            return to_response(json_answer(200, payload, ok))
        connection.close(1000, DELETE_REASON)
        logger.info("connection deleted", extra={"connection_id": connection_id})
        return to_response(HttpAnswer(204, ok))

    async def _post(self, request: Request, connection_id: str, request_id: str) -> HttpAnswer:
        try:
            data = await read_capped_body(
                request.receive, request.scope["headers"], self._core.limits.max_message_bytes
            )
        except ClientGoneError:
            data = None
        if data is None:
            return error_answer(
                413, "PayloadTooLargeException", "Request entity too large", request_id
            )
        connection = self._core.registry.get(connection_id)
        if connection is None:
            return _gone(request_id)
        try:
            connection.post(data)
        except GoneError:
            return _gone(request_id)
        except SendBufferFullError:
            logger.warning("send buffer full", extra={"connection_id": connection_id})
            return error_answer(429, "LimitExceededException", "Limit exceeded", request_id)
        return HttpAnswer(200, (("x-amzn-RequestId", request_id),))


class AdminApi:
    def __init__(self, core: GatewayCore) -> None:
        self._core = core

    async def info(self, request: Request) -> Response:
        urls = self._core.urls
        payload = {
            "ws_url": urls.ws_url,
            "rest_url": urls.rest_url,
            "management_url": urls.management_url,
            "stage": self._core.stage,
            "connections": len(self._core.registry),
        }
        return to_response(json_answer(200, payload))

    async def workers(self, request: Request) -> Response:
        return to_response(json_answer(200, self._core.invoker.workers()))

    async def connections(self, request: Request) -> Response:
        return to_response(json_answer(200, {"connections": self._core.registry.ids()}))

    async def drop(self, request: Request) -> Response:
        connection_id = request.path_params["connection_id"]
        connection = self._core.registry.get(connection_id)
        if connection is None or not connection.drop():
            return to_response(_gone(new_id()))
        logger.info(
            "connection dropped without $disconnect", extra={"connection_id": connection_id}
        )
        return Response(status_code=204)


def _gone(request_id: str) -> HttpAnswer:
    return error_answer(410, "GoneException", "Connection is gone", request_id)
