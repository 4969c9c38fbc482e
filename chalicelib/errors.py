"""One error hierarchy for the whole service, mapped to HTTP statuses and error frames here.

Handlers raise these; only `http_error_body` / `error_frame` turn them into wire output,
so a status or code is decided in exactly one place. Anything that is not an `ImError`
becomes a generic `internal` error that leaks nothing about the cause.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class ImError(Exception):
    """Base class: a refusal the client is allowed to see."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str = "internal error") -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ImError):
    status = 400
    code = "bad_request"


class Unauthorized(ImError):
    status = 401
    code = "unauthorized"


class Forbidden(ImError):
    status = 403
    code = "forbidden"


class NotFound(ImError):
    status = 404
    code = "not_found"


class TooLarge(ImError):
    status = 413
    code = "too_large"


class RateLimited(ImError):
    status = 429
    code = "rate_limited"
    retry_after_ms: int | None = None  # when known: how long until it would pass


class TooManyConnections(RateLimited):
    """A user's live connections are at the cap (IM_MAX_CONNECTIONS_PER_USER)."""


class Unavailable(ImError):
    """A dependency (MongoDB, Redis) failed: nothing was acknowledged."""

    status = 503
    code = "unavailable"


class Internal(ImError):
    status = 500
    code = "internal"


def as_im_error(exc: BaseException) -> ImError:
    """The client-visible form of any exception: itself, or a generic internal error."""
    return exc if isinstance(exc, ImError) else Internal()


def http_error_body(err: ImError) -> dict[str, Any]:
    return {"error": err.message}


def http_error_headers(err: ImError) -> dict[str, str]:
    retry = getattr(err, "retry_after_ms", None)
    return {} if retry is None else {"Retry-After": str(max(1, math.ceil(retry / 1000)))}


def error_frame(
    err: ImError, ack_id: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": err.code, "error": err.message}
    if ack_id is not None:
        frame["ack_id"] = ack_id
    if request_id is not None:
        frame["request_id"] = request_id
    retry = getattr(err, "retry_after_ms", None)
    if retry is not None:
        frame["retry_after_ms"] = retry
    return frame
